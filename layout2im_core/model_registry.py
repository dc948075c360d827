"""The shipped models: ``resources/models/<name>.safetensors`` by name, the default one, and the
resolution of a name or a path given by a user. Torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

from .errors import ModelFileError, value_text
from .resources_path import resources_dir

__all__ = ["DEFAULT_MODEL", "available_models", "default_model_path", "resolve_model"]

DEFAULT_MODEL = "scenes64"


def available_models(root: Optional[Path] = None) -> Dict[str, Path]:
    """Shipped models: name -> path of ``resources/models/<name>.safetensors`` (``root``: another
    resources folder), sorted by name."""
    folder = (resources_dir() if root is None else Path(root)) / "models"
    try:
        return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}
    except OSError:
        return {}


def default_model_path() -> Path:
    """Path of the default shipped model (may not exist in a damaged install)."""
    return resources_dir() / "models" / f"{DEFAULT_MODEL}.safetensors"


def resolve_model(name_or_path: Union[str, Path]) -> Path:
    """A shipped model name (e.g. ``"scenes64"``) or a file path -> path.

    Raises:
        ModelFileError: neither a shipped name nor an existing file (a folder is named as one); the message
            lists shipped names.
    """
    p = Path(name_or_path)
    try:
        if p.is_file():
            return p
    except OSError:  # e.g. a name too long for the file system
        pass
    models = available_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    try:
        if p.is_dir():
            raise ModelFileError(f"{value_text(str(name_or_path), 120)} is a folder; give a model file "
                                 f"(.safetensors) or a shipped model's name")
    except OSError:
        pass
    names = ", ".join(models) or "none installed"
    raise ModelFileError(f"no model named or at {value_text(str(name_or_path), 120)}; shipped models: {names}")
