"""Where the shipped resources (models, example layouts, icons) live: ``$LAYOUT2IM_RESOURCES``, else
the PyInstaller bundle's ``resources/``, else the repository's ``resources/``. Torch-free."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """Folder holding ``models/``, ``layouts/`` and ``icons/``."""
    env = os.environ.get("LAYOUT2IM_RESOURCES")
    if env:
        return Path(env)
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
