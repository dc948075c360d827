"""The shipped models and examples in the window: the Model menu's one-click list of shipped models
(the choice is remembered across restarts), File > Examples, the document a launch opens, and the
offer to switch to the model a project was made with.

At launch (:meth:`Library.start`) the window opens, in this order: a crashed session's work (if the
user restores it), the project given on the command line, the project opened last, else the first
example of the model being loaded, so the first minute shows an image, not an empty canvas. The
model is the one given with ``--model``, else the shipped model the opened project records, else the
one picked last in the Model menu, else the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from PySide6.QtCore import QObject, Signal

from .catalog import DEFAULT_MODEL, Catalog, Example, load_catalog, render_examples

if TYPE_CHECKING:
    from .inference_worker import ModelInfo


def _load_shipped(path: Path):
    """On the worker: a shipped model, for the thumbnails of its examples."""
    from layout2im_core.inference import Layout2ImModel
    return Layout2ImModel.load(path, device="cpu")


class Library(QObject):
    """Owns the catalog and the model choice. ``load(path, user)`` loads a model file on the worker
    (None: the default); ``info()`` is the loaded ModelInfo (None before the first load).

    Signals: ``message(str)`` for the status bar.
    """

    message = Signal(str)

    def __init__(self, settings, dialogs, files, client, actions, load: Callable[[Optional[str], bool], None],
                 info: Callable[[], Optional["ModelInfo"]], catalog: Optional[Catalog] = None, parent=None):
        super().__init__(parent)
        self.settings, self.dialogs, self.files, self.client, self.actions = settings, dialogs, files, client, actions
        self._load, self._info = load, info
        self._remember: Optional[str] = None    # model choice to store once its load succeeds
        self._example_pending = False           # open the loaded model's first example when it arrives
        self._fallback = False                  # a failed launch model -> load the default instead
        self._starting = False
        self.set_catalog(catalog if catalog is not None else load_catalog())
        files.project_opened.connect(self.offer_project_model)
        actions.examples_menu.example_picked.connect(self.open_example)
        actions.examples_menu.thumbnails_wanted.connect(self.render_thumbnails)

    def set_catalog(self, catalog: Catalog) -> None:
        """Use ``catalog`` (tests point it at a temporary folder) and fill the menus."""
        self.catalog = catalog
        self.actions.set_models([(m.name, f"Load the shipped model {m.name}") for m in catalog.models],
                                self.pick_model)
        self.actions.examples_menu.set_catalog(catalog)

    # ---- launch --------------------------------------------------------------------------------
    def remembered_model(self) -> Optional[str]:
        """The model file picked last in the Model menu, when it is still there (None: default)."""
        choice = self.settings.model_choice
        if not choice:
            return None
        path = self.catalog.model_path(choice)
        if path is not None:
            return str(path)
        if Path(choice).is_file():
            return choice
        self.message.emit(f"The model chosen last ({choice}) is gone; loading the default model")
        self.settings.model_choice = ""
        return None

    def start(self, model_path: Optional[str] = None, project: Optional[str] = None, recover: bool = True) -> None:
        """Open the first document and load the first model (see the module docstring)."""
        self._starting = True
        try:
            opened = bool(recover and self.files.offer_recovery())
            if not opened and project:
                opened = self.files.open_path(project, ask=False)
            elif not opened and self.files.last_project() is not None:
                opened = self.files.open_path(self.files.last_project(), ask=False, quiet=True)
        finally:
            self._starting = False
        path: Optional[str]
        if model_path:
            path, user = model_path, True
        else:
            recorded = self.catalog.model_path(self.files.doc.model_name) if opened else None
            path, user = (str(recorded) if recorded else self.remembered_model()), False
            self._fallback = path is not None
        if not opened:
            name = self.catalog.model_name_of(path) if path else DEFAULT_MODEL
            examples = self.catalog.examples_for(name) if name else []
            if examples:
                self.files.open_example(examples[0])
            else:
                self._example_pending = True  # a model without shipped examples, or not known yet
        self._load(path, user)

    # ---- model choice --------------------------------------------------------------------------
    def current_name(self) -> str:
        """The shipped name of the loaded model's file ("" for another file or none)."""
        info = self._info()
        return (self.catalog.model_name_of(info.path) or "") if info is not None else ""

    def pick_model(self, name: str) -> None:
        """Model > (a shipped model): load it; it is remembered once loaded."""
        path = self.catalog.model_path(name)
        if path is None:
            return
        if name == self.current_name():
            self.actions.check_model(name)
            return
        self._remember = name
        self._load(str(path), True)

    def remember_file(self, path: str) -> None:
        """Model > Open Model File…: remember ``path`` once it loaded."""
        self._remember = self.catalog.model_name_of(path) or str(Path(path).resolve())

    def on_model_loaded(self, info) -> None:
        """Tick the model in the menu, store a pending choice, open a pending first example."""
        self._fallback = False
        shipped = self.catalog.model_name_of(info.path) or ""
        self.actions.check_model(shipped)
        self.actions.examples_menu.set_current_model(info.name)
        if self._remember is not None:
            self.settings.model_choice = self._remember
            self._remember = None
        if self._example_pending:
            self._example_pending = False
            untouched = len(self.files.doc) == 0 and not self.files.modified and self.files.path is None
            examples = self.catalog.examples_for(info.name)
            if untouched and examples:
                self.files.open_example(examples[0])

    def on_model_failed(self) -> None:
        """A load failed: nothing to remember, and the menu ticks the model still loaded. At launch,
        a chosen model that fails (a damaged file) gives way to the default model."""
        self._remember = None
        if self._fallback and self._info() is None:
            self._fallback = False
            self.settings.model_choice = ""
            self.message.emit("The model chosen last cannot be loaded; loading the default model")
            self._load(None, False)
            return
        self._example_pending = False
        self.actions.check_model(self.current_name())

    # ---- examples and projects -----------------------------------------------------------------
    def open_example(self, example: Example) -> bool:
        """File > Examples > (one): open it (asks about unsaved changes first) and, when it was made
        for another shipped model than the loaded one, switch to that model."""
        if not self.files.maybe_save():
            return False
        self.files.open_example(example)
        info = self._info()
        path = self.catalog.model_path(example.model_name)
        if path is not None and (info is None or info.name != example.model_name):
            self.message.emit(f"Loading the model {example.model_name} for the example {example.title}")
            self._remember = example.model_name
            self._load(str(path), True)
        return True

    def offer_project_model(self, model_name: str) -> bool:
        """After a project opened: when it records another model than the loaded one, offer to switch
        to it if it ships (else say it is not installed). True when a switch was asked for."""
        info = self._info()
        if self._starting or not model_name or info is None or model_name == info.name:
            return False
        path = self.catalog.model_path(model_name)
        if path is None:
            self.message.emit(f"This project was made with the model '{model_name}', which is not installed; "
                              f"drawing it with {info.name}")
            return False
        if not self.dialogs.ask_yes_no("Switch model?", f"This project was made with the model '{model_name}'; "
                                                        f"the loaded model is '{info.name}'.\n\n"
                                                        f"Switch to {model_name}?"):
            return False
        self._remember = model_name
        self._load(str(path), True)
        return True

    def render_thumbnails(self) -> None:
        """Render every example with its own model on the worker (once; again after a failure)."""
        menu = self.actions.examples_menu
        examples = self.catalog.examples
        paths = {m.name: m.path for m in self.catalog.models}

        def failed(message: str) -> None:
            menu.thumbnails_asked = False

        self.client.run_job(lambda m: render_examples(m, examples, _load_shipped, paths), menu.set_thumbnails,
                            failed, any_model=True)
