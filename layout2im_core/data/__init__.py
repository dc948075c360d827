"""Data readers, all yielding the batch contract of docs/architecture.md.

    collate.py         Batch, collate_batch (padding, packed form, box masks)
    image_io.py        image file -> [3, 64, 64] tensor, the item dict, skip-unreadable base class
    coco.py            CocoStuffDataset (spec §7.1), CocoDataset (custom COCO-format data)
    vg.py              VisualGenomeDataset (spec §7.2, preprocessed h5)
    scenes.py          procedural outdoor scenes (make_scenes, sample/render/redraw a scene layout)
    scenes_draw.py     painting helpers and the landscape drawers (sky, sea, grass, ...)
    scenes_things.py   the thing drawers (tree, house, car, boat, ...)
    build.py           build_dataset(kind, path, split) -> (dataset, vocabulary)

Names are imported lazily, so ``import layout2im_core.data.scenes`` (the make-scenes CLI) does not
load torch.
"""

from importlib import import_module

_EXPORTS = {
    "Batch": "collate", "PackedObjects": "collate", "collate_batch": "collate",
    "CocoDataset": "coco", "CocoStuffDataset": "coco", "ReadStats": "coco", "ImageRecord": "coco",
    "VisualGenomeDataset": "vg",
    "make_scenes": "scenes", "sample_scene": "scenes", "render_scene": "scenes",
    "redraw_appearance": "scenes", "SceneLayout": "scenes", "SceneObject": "scenes",
    "SCENE_CATEGORIES": "scenes", "Appearance": "scenes", "scene_for_index": "scenes",
    "load_scene_layouts": "scenes",
    "build_dataset": "build", "DATASET_KINDS": "build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
