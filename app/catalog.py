"""What ships with the app: the model files in ``resources/models`` (by name) and the example layouts
in ``resources/layouts`` (each made for one of those models). Qt-free and torch-free: the window
reads it before the model loads, to fill the Model and File > Examples menus and to open an example
at the first launch. :func:`render_examples` runs on the inference worker (thumbnails).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from layout2im_core.model_registry import DEFAULT_MODEL, available_models
from layout2im_core.project import Project, ProjectFileError, load_project
from layout2im_core.resources_path import resources_dir

THUMBNAIL_SEED = 0            # looks of the examples' objects (they carry no z) in the thumbnails


@dataclass(frozen=True)
class ShippedModel:
    """A model file in ``resources/models``: ``name`` is its file name without ``.safetensors``."""

    name: str
    path: Path


@dataclass(frozen=True)
class Example:
    """An example layout: its file, a title for menus, the name of the model it was made for."""

    path: Path
    title: str
    model_name: str
    project: Project


@dataclass(frozen=True)
class Catalog:
    """Shipped models (the default first, then by name) and examples (grouped in that model order)."""

    models: Tuple[ShippedModel, ...] = ()
    examples: Tuple[Example, ...] = ()

    def model_path(self, name: str) -> Optional[Path]:
        """The file of the shipped model ``name`` (None when none ships by that name)."""
        return next((m.path for m in self.models if m.name == name), None)

    def model_name_of(self, path) -> Optional[str]:
        """The shipped name of a model file path (None for any other file)."""
        try:
            p = Path(path).resolve()
        except (OSError, TypeError, ValueError):
            return None
        return next((m.name for m in self.models if m.path.resolve() == p), None)

    def examples_for(self, model_name: str) -> List[Example]:
        """The examples made for ``model_name`` (empty for a model without examples)."""
        return [e for e in self.examples if e.model_name == model_name]

    def groups(self) -> List[Tuple[str, List[Example]]]:
        """(model name, its examples) in menu order: shipped models first, then any other name."""
        names = [m.name for m in self.models]
        names += sorted({e.model_name for e in self.examples} - set(names))
        return [(n, self.examples_for(n)) for n in names if self.examples_for(n)]


def _title(path: Path, project: Project) -> str:
    title = project.meta.get("title")
    if isinstance(title, str) and title.strip():
        title = title.strip()
    else:
        title = path.name.split(".")[0]
    title = title.replace("_", " ")
    return title[:1].upper() + title[1:]


def load_catalog(root: Optional[Path] = None) -> Catalog:
    """Read ``root`` (default: the shipped resources folder); unreadable layouts are left out."""
    root = Path(root) if root is not None else resources_dir()
    models = sorted((ShippedModel(name, p) for name, p in available_models(root).items()),
                    key=lambda m: (m.name != DEFAULT_MODEL, m.name))  # the default first
    order = {m.name: i for i, m in enumerate(models)}
    examples = []
    try:
        layouts = sorted((root / "layouts").glob("*.json"))
    except OSError:
        layouts = []
    for path in layouts:
        try:
            project = load_project(path)
        except ProjectFileError:
            continue
        meta_model = project.meta.get("model")
        name = project.model_name or (meta_model if isinstance(meta_model, str) else "")
        if project.objects and name:
            examples.append(Example(path, _title(path, project), name, project))
    examples.sort(key=lambda e: (order.get(e.model_name, len(order)), e.model_name, e.path.name))
    return Catalog(tuple(models), tuple(examples))


def render_examples(current, examples: Sequence[Example], load: Callable[[Path], object],
                    model_paths: Dict[str, Path]) -> Dict[str, np.ndarray]:
    """On the worker: a picture of each example with the model it was made for: ``current`` (the
    loaded model) when its name fits, else ``load(path)`` of that shipped model. Returns str(example
    path) -> uint8 [64, 64, 3]; examples whose model is missing or fails are left out."""
    out: Dict[str, np.ndarray] = {}
    by_model: Dict[str, List[Example]] = {}
    for e in examples:
        by_model.setdefault(e.model_name, []).append(e)
    for name, group in by_model.items():
        try:
            if current is not None and getattr(current, "name", None) == name:
                model = current
            elif name in model_paths:
                model = load(model_paths[name])
            else:
                continue
            known = set(model.categories)
            layouts = [e.project.to_layout() for e in group]
            ok = [i for i, lay in enumerate(layouts)
                  if lay.objects and all(o.category in known for o in lay.objects)]
            if not ok:
                continue
            images = np.asarray(model.generate_batch([layouts[i] for i in ok], seed=THUMBNAIL_SEED), np.uint8)
        except Exception:  # noqa: BLE001 - a thumbnail is never worth an error
            continue
        for i, img in zip(ok, images):
            out[str(group[i].path)] = img
    return out
