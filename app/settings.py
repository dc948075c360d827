"""Persistent preferences (QSettings): recent files, theme, the chosen model, view toggles, window state.
Tests point QSettings at a temporary folder (see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT_FILES = 10


class AppSettings:
    """Typed access to the app's QSettings."""

    def __init__(self, qsettings: Optional[QSettings] = None):
        self.q = qsettings or QSettings("Layout2Im", "Layout2Im Studio")

    def _get(self, key: str, default, typ):
        v = self.q.value(key, default)
        if typ is bool:
            return v in (True, "true", "1", 1) if v is not None else default
        try:
            return typ(v)
        except (TypeError, ValueError):
            return default

    # ---- recent files --------------------------------------------------------------------------
    def recent_files(self) -> List[str]:
        """Recently opened or saved project files, newest first."""
        v = self.q.value("recent_files", [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in v if p] if isinstance(v, (list, tuple)) else []

    def add_recent_file(self, path: str) -> List[str]:
        """Put ``path`` first in the recent files."""
        path = str(Path(path).resolve())
        files = [path] + [p for p in self.recent_files() if p != path]
        self.q.setValue("recent_files", files[:MAX_RECENT_FILES])
        return files[:MAX_RECENT_FILES]

    def remove_recent_file(self, path: str) -> None:
        """Forget a recent file (it could not be opened)."""
        self.q.setValue("recent_files", [p for p in self.recent_files() if p != path])

    # ---- preferences ---------------------------------------------------------------------------
    @property
    def theme(self) -> str:
        """"light", "dark" or "system"."""
        v = self._get("theme", "system", str)
        return v if v in ("light", "dark", "system") else "system"

    @theme.setter
    def theme(self, v: str) -> None:
        self.q.setValue("theme", v)

    @property
    def model_choice(self) -> str:
        """The model picked last in the Model menu: a shipped model's name or a model file's path
        ("" when none: the default model)."""
        return self._get("model/choice", "", str)

    @model_choice.setter
    def model_choice(self, v: str) -> None:
        self.q.setValue("model/choice", str(v or ""))

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean preference (e.g. "view/smooth", "view/overlay")."""
        return self._get(key, default, bool)

    def set_flag(self, key: str, on: bool) -> None:
        """Store a boolean preference."""
        self.q.setValue(key, bool(on))

    def last_dir(self, kind: str) -> str:
        """Folder last used for ``kind`` ("project", "model", "export")."""
        return self._get(f"dirs/{kind}", "", str)

    def set_last_dir(self, kind: str, path: str) -> None:
        """Remember the folder of ``path`` for ``kind``."""
        self.q.setValue(f"dirs/{kind}", str(Path(path).parent))

    def window_state(self):
        """(geometry, state) QByteArrays saved at the last close, or (None, None)."""
        g, s = self.q.value("window/geometry"), self.q.value("window/state")
        return (g if isinstance(g, QByteArray) else None, s if isinstance(s, QByteArray) else None)

    def set_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        """Store the window geometry and dock/toolbar state."""
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)
