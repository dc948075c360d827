"""The window's actions (text, qtawesome icon, shortcuts), its menus and toolbar.

Actions are looked up by name (``window.actions_by_name["save"]``), which keeps the main window free
of a long list of QAction constructions and lets tests trigger any command the user can."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from .examples_menu import ExamplesMenu
from .theme import THEMES, icon

# name: (text, icon, shortcuts, tip)
SPECS = {
    "new": ("&New", "fa5s.file", ["Ctrl+N"], "Start an empty layout"),
    "open": ("&Open…", "fa5s.folder-open", ["Ctrl+O"], "Open a project file"),
    "save": ("&Save", "fa5s.save", ["Ctrl+S"], "Save the project"),
    "save_as": ("Save &As…", None, ["Ctrl+Shift+S"], "Save the project under a new name"),
    "export_png": ("&Export PNG…", "fa5s.file-export", ["Ctrl+E"], "Save the generated image at a chosen scale"),
    "copy_image": ("Copy &Image", "fa5s.clipboard", ["Ctrl+Shift+C"], "Copy the generated image to the clipboard"),
    "open_model": ("Open Model &File…", "fa5s.cube", ["Ctrl+M"], "Load a model file (.safetensors) from anywhere"),
    "import_official": ("&Import Official Checkpoint…", "fa5s.file-import", [],
                        "Load an official Layout2Im checkpoint (.pkl / .pt)"),
    "quit": ("&Quit", "fa5s.sign-out-alt", ["Ctrl+Q"], "Close Layout2Im Studio"),
    "cut": ("Cu&t", None, ["Ctrl+X"], "Cut the selected boxes"),
    "copy": ("&Copy", "fa5s.copy", ["Ctrl+C"], "Copy the selected boxes"),
    "paste": ("&Paste", "fa5s.paste", ["Ctrl+V"], "Paste boxes"),
    "duplicate": ("&Duplicate", "fa5s.clone", ["Ctrl+D"], "Duplicate the selected boxes"),
    "delete": ("De&lete", "fa5s.trash-alt", ["Delete", "Backspace"], "Delete the selected boxes"),
    "select_all": ("Select &All", None, ["Ctrl+A"], "Select every box"),
    "draw_tool": ("&Draw Boxes", "fa5s.vector-square", ["B"],
                  "Draw tool: every drag on the canvas draws a box of the current category, also over "
                  "other boxes (B or Esc: back to selecting)"),
    "change_category": ("Change Category to Current", "fa5s.tag", ["C"],
                        "Give the selected boxes the category picked in the palette"),
    "toggle_lock": ("&Lock Look", "fa5s.lock", ["L"], "Lock or unlock the selected objects' look (z)"),
    "reroll": ("&Re-roll Look", "fa5s.dice", ["R"], "A new random look for the selected objects"),
    "reroll_all": ("Re-roll &All Looks", "fa5s.dice-d20", ["Shift+R"], "A new random look for every unlocked object"),
    "look_reset": ("Re&set Look", "fa5s.undo-alt", [], "Sliders back to 0: the look before the sliders moved"),
    "look_typical": ("&Typical Look", "fa5s.bullseye", [], "The category's average look (the centre of its looks)"),
    "copy_look": ("Cop&y Look", "fa5s.eye-dropper", ["Ctrl+Alt+C"], "Copy the selected object's look (its z)"),
    "paste_look": ("Paste Loo&k", "fa5s.fill-drip", ["Ctrl+Alt+V"],
                   "Give the selected objects the copied look; each keeps its category"),
    "variations": ("&Variations…", "fa5s.th", ["Ctrl+G"],
                   "A grid of new looks: samples of each selected (or unlocked) object, or of the whole layout"),
    "look_from_photo": ("Look from &Photo…", "fa5s.image", ["Ctrl+Shift+P"],
                        "Take the selected object's look from a box on a photo"),
    "import_annotation": ("&Import Annotation…", "fa5s.file-image", ["Ctrl+I"],
                          "Open COCO or labelme annotations of a photo as a layout, looks from the photo "
                          "(pick COCO-Stuff's instances and stuff files together)"),
    "fuse_later": ("Fuse &Later", "fa5s.arrow-down", ["Ctrl+]"], "Move the selection later in fusion order"),
    "fuse_earlier": ("Fuse &Earlier", "fa5s.arrow-up", ["Ctrl+["], "Move the selection earlier in fusion order"),
    "zoom_in": ("Zoom &In", "fa5s.search-plus", ["Ctrl+=", "Ctrl++"], "Zoom into the canvas"),
    "zoom_out": ("Zoom &Out", "fa5s.search-minus", ["Ctrl+-"], "Zoom out of the canvas"),
    "zoom_fit": ("&Fit Canvas", "fa5s.expand", ["Ctrl+0"], "Fit the whole canvas in the view"),
    "overlay": ("Layout &Overlay", "fa5s.border-all", ["O"], "Draw the boxes over the generated image"),
    "smooth": ("&Smooth Scaling", "mdi6.blur", ["Shift+S"], "Smooth instead of crisp (nearest) enlargement"),
    "shortcuts": ("&Keyboard Shortcuts", "fa5s.info-circle", ["F1"], "List the keyboard shortcuts"),
    "about": ("&About", None, [], "About Layout2Im Studio"),
}
CHECKABLE = {"overlay", "smooth", "draw_tool"}
ICON_TEXT = {"reroll": "Re-roll", "look_reset": "Reset", "look_typical": "Typical", "copy_look": "Copy",
             "paste_look": "Paste", "look_from_photo": "Photo…", "variations": "Variations…"}  # panel buttons

FIXED_NAMES = {"undo": "Undo", "redo": "Redo"}  # their text follows the stack ("Undo Move")
SPECIAL_KEYS = {"F13", "F14", "F15", "F16", "F17", "F18", "F19", "F20", "Undo", "Redo", "Copy", "Paste",
                "Cut", "Find", "Open", "Help"}  # platform extras in QKeySequence.keyBindings

MENUS: Dict[str, List[Optional[str]]] = {
    "&File": ["new", "open", "@recent", "@examples", "import_annotation", "save", "save_as", None, "export_png",
              "copy_image", None, "quit"],
    "&Edit": ["undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", "select_all", None,
              "draw_tool", "change_category", "toggle_lock", "fuse_earlier", "fuse_later"],
    "&Look": ["reroll", "reroll_all", None, "look_reset", "look_typical", None, "copy_look", "paste_look", None,
              "toggle_lock", None, "variations", "look_from_photo"],
    "&View": ["zoom_in", "zoom_out", "zoom_fit", None, "overlay", "smooth", None, "@theme"],
    "&Model": ["@models", "open_model", "import_official", None, "@device"],
    "&Help": ["shortcuts", "about"],
}
TOOLBAR = ["new", "open", "save", None, "undo", "redo", None, "draw_tool", "duplicate", "delete", None, "toggle_lock",
           "reroll",
           "variations", None,
           "zoom_in", "zoom_out", "zoom_fit", None, "overlay", "smooth", None, "export_png", "copy_image"]


class ActionSet:
    """Creates the actions, re-colours their icons when the theme changes."""

    def __init__(self, window: QMainWindow, slots: Dict[str, Callable], undo: QAction, redo: QAction):
        self.window = window
        self.by_name: Dict[str, QAction] = {}
        self._icons: Dict[str, str] = {"undo": "fa5s.undo", "redo": "fa5s.redo"}
        undo.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Undo))  # Ctrl+Z, plus e.g. F14 / Undo keys
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        undo.setStatusTip("Undo the last change")
        redo.setStatusTip("Redo the change undone last")
        self.by_name.update(undo=undo, redo=redo)
        for name, (text, icon_name, keys, tip) in SPECS.items():
            a = QAction(text, window)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({keys[0]})" if keys else tip)
            a.setCheckable(name in CHECKABLE)
            if name in ICON_TEXT:
                a.setIconText(ICON_TEXT[name])
            if name in slots and a.isCheckable():
                a.toggled.connect(slots[name])
            elif name in slots:  # never pass triggered's "checked" into a slot's optional argument
                a.triggered.connect(lambda _=False, f=slots[name]: f())
            if icon_name:
                self._icons[name] = icon_name
            self.by_name[name] = a
        self.recent_menu = QMenu("Open &Recent", window)
        self.examples_menu = ExamplesMenu(window)
        self.model_group = QActionGroup(window)
        self.model_actions: Dict[str, QAction] = {}
        self.menus: Dict[str, QMenu] = {}
        self.device_menu = QMenu("&Device", window)
        self.device_group = QActionGroup(window)
        self.theme_menu = QMenu("&Theme", window)
        self.theme_group = QActionGroup(window)
        for t in THEMES:
            a = self.theme_menu.addAction(t.capitalize())
            a.setCheckable(True)
            a.setData(t)
            self.theme_group.addAction(a)
        self.refresh_icons()

    def refresh_icons(self) -> None:
        """Re-create every icon in the current palette's colours."""
        for name, icon_name in self._icons.items():
            self.by_name[name].setIcon(icon(icon_name))
        self.device_menu.setIcon(icon("fa5s.microchip"))
        self.examples_menu.setIcon(icon("fa5s.images"))
        self.theme_menu.setIcon(icon("fa5s.adjust"))

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]

    def build_menus(self) -> None:
        """Fill the window's menu bar and toolbar."""
        bar = self.window.menuBar()
        special = {"@recent": self.recent_menu, "@device": self.device_menu, "@theme": self.theme_menu,
                   "@examples": self.examples_menu}
        for title, names in MENUS.items():
            menu = bar.addMenu(title)
            self.menus[title.replace("&", "")] = menu
            for n in names:
                if n is None:
                    menu.addSeparator()
                elif n == "@models":
                    self._models_end = menu.addSeparator()  # shipped models go above it
                elif n in special:
                    menu.addMenu(special[n])
                else:
                    menu.addAction(self.by_name[n])
        tb = QToolBar("Main", self.window)
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        for n in TOOLBAR:
            tb.addSeparator() if n is None else tb.addAction(self.by_name[n])
        self.window.addToolBar(tb)
        self.toolbar = tb

    def set_devices(self, devices: Sequence[str], current: str, on_pick: Callable[[str], None]) -> None:
        """List the devices in the Device menu, ``current`` checked."""
        self.device_menu.clear()
        for a in list(self.device_group.actions()):
            self.device_group.removeAction(a)
        for d in devices:
            a = self.device_menu.addAction(d.upper() if d in ("cpu", "cuda") else d)
            a.setCheckable(True)
            a.setChecked(d == current or current.startswith(d + ":"))
            a.triggered.connect(lambda _=False, d=d: on_pick(d))
            self.device_group.addAction(a)

    def set_models(self, models: Sequence[Tuple[str, str]], on_pick: Callable[[str], None]) -> None:
        """List the shipped models ((name, tip) pairs) at the top of the Model menu, one click each."""
        menu = self.menus["Model"]
        for a in self.model_actions.values():
            menu.removeAction(a)
            self.model_group.removeAction(a)
        self.model_actions = {}
        for name, tip in models:
            a = QAction(name, self.window)
            a.setCheckable(True)
            a.setStatusTip(tip)
            a.setToolTip(tip)
            a.triggered.connect(lambda _=False, n=name: on_pick(n))
            menu.insertAction(self._models_end, a)
            self.model_group.addAction(a)
            self.model_actions[name] = a
        self._models_end.setVisible(bool(models))

    def check_model(self, name: str) -> None:
        """Tick the shipped model ``name`` in the Model menu (none for another model file)."""
        for n, a in self.model_actions.items():
            a.setChecked(n == name)
        if name not in self.model_actions and self.model_group.checkedAction() is not None:
            self.model_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.None_)
            self.model_group.checkedAction().setChecked(False)
            self.model_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.Exclusive)

    def set_recent(self, paths: Sequence[str], on_pick: Callable[[str], None]) -> None:
        """List recent project files in File > Open Recent."""
        self.recent_menu.clear()
        for i, p in enumerate(paths):
            a = self.recent_menu.addAction(f"&{i + 1} {p}" if i < 9 else p)
            a.triggered.connect(lambda _=False, p=p: on_pick(p))
        self.recent_menu.setEnabled(bool(paths))

    def shortcut_text(self) -> str:
        """A plain list of all shortcuts (Help > Keyboard Shortcuts): each command by its own name
        (not "Undo Look from photo", the undo action's current text) with the keys people type
        (special keys such as F14 or a keyboard's Undo key are left out)."""
        lines = []
        for name, a in self.by_name.items():
            keys = [k.toString() for k in a.shortcuts()]
            keys = [k for k in keys if k and k not in SPECIAL_KEYS]
            if keys:
                label = FIXED_NAMES.get(name) or a.text()
                lines.append(f"{label.replace('&', '')}: {', '.join(keys)}")
        lines += ["Arrows: nudge the selection (Shift: x10)", "Tab: select the next box",
                  "Esc: cancel a drag / leave the draw tool / clear the selection", "1-9: pick a recent category",
                  "Wheel: zoom under the mouse; middle drag or Space+drag: pan",
                  "Drag on empty canvas: draw a box of the current category (B: draw over boxes too)",
                  "Ctrl/Shift+click: add to the selection; Ctrl/Shift+drag on empty canvas: select inside"]
        return "\n".join(lines)
