"""Layout2Im Studio: the desktop layout editor with live generation (PySide6).

The app reaches the model only through ``layout2im_core.inference`` (imported lazily on the worker
thread, so the window appears before torch loads); of the rest of the core it imports only the
public API modules listed in docs/architecture.md ("Packages", enforced by pyproject's import
contracts). Layout of the package:

    __main__.py        entry point ``layout2im-studio`` (+ ``--self-test OUT.png``)
    main_window.py     composes the parts
    document.py        Qt-free document model; commands.py its undo commands
    canvas/            the layout canvas: view, box items, handle geometry
    panels/            palette, object list, appearance sliders
    appearance.py      the slider <-> z mapping (Qt-free); look_editor.py the look commands
    variation_grid.py  the grid of samples; photo_tools.py looks from photos, annotation import
    annotations.py     COCO / labelme readers (Qt-free); photo_dialog.py the box-on-a-photo dialog
    image_view.py      the generated image (+ layout overlay)
    inference_worker.py  model calls on a worker thread, newest request wins
"""
