"""The layout canvas: ``view`` (editing, CanvasView), ``box_item`` (box drawing), ``painting``
(background and handles), ``handles`` (pure geometry of handles, moves and resizes)."""
