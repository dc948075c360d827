"""Light / dark / system theme (Fusion style with an explicit palette) and themed qtawesome icons."""

from __future__ import annotations

import qtawesome as qta
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")


def dark_palette() -> QPalette:
    """A calm dark palette for the Fusion style."""
    p = QPalette()
    base, window, text = QColor(37, 37, 40), QColor(45, 45, 49), QColor(225, 225, 228)
    R = QPalette.ColorRole
    for role, color in ((R.Window, window), (R.WindowText, text), (R.Base, base), (R.AlternateBase, window),
                        (R.ToolTipBase, window), (R.ToolTipText, text), (R.Text, text), (R.Button, window),
                        (R.ButtonText, text), (R.BrightText, QColor(255, 80, 80)), (R.Highlight, QColor(64, 128, 220)),
                        (R.HighlightedText, QColor(Qt.GlobalColor.white)), (R.Link, QColor(100, 160, 255)),
                        (R.Mid, QColor(85, 85, 90)), (R.Dark, QColor(25, 25, 28)), (R.Light, QColor(70, 70, 75)),
                        (R.PlaceholderText, QColor(140, 140, 145))):
        p.setColor(role, color)
    for role in (R.Text, R.WindowText, R.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 125))
    return p


def light_palette() -> QPalette:
    """Fusion's standard light palette."""
    from PySide6.QtWidgets import QStyleFactory
    return QStyleFactory.create("Fusion").standardPalette()


def resolve(mode: str) -> str:
    """"light" or "dark" for a theme mode ("system" follows the desktop's colour scheme)."""
    if mode in ("light", "dark"):
        return mode
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def application() -> QApplication:
    """The running QApplication (a widget app always has one: its absence is a programming error)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("no QApplication is running")
    return app


def apply_theme(mode: str) -> str:
    """Apply a theme to the running QApplication; returns the resolved "light" or "dark"."""
    app = application()
    app.setStyle("Fusion")
    resolved = resolve(mode)
    app.setPalette(dark_palette() if resolved == "dark" else light_palette())
    return resolved


def icon(name: str) -> QIcon:
    """A qtawesome icon coloured for the current palette (crisp at any device pixel ratio)."""
    pal = application().palette()
    return qta.icon(name, color=pal.color(QPalette.ColorRole.ButtonText),
                    color_disabled=pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText))


def app_icon() -> QIcon:
    """The app's icon (``resources/icons/layout2im-studio.svg``), else a stock glyph."""
    from layout2im_core.resources_path import resources_dir

    path = resources_dir() / "icons" / "layout2im-studio.svg"
    ic = QIcon(str(path)) if path.exists() else QIcon()
    return icon("fa5s.vector-square") if ic.isNull() else ic
