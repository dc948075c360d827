"""Procedural scenes: determinism, layout rules, visible appearance factors, COCO round trip."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from layout2im_core.data.build import build_dataset
from layout2im_core.data.scenes import (
    MIN_AREA,
    SCENE_CATEGORIES,
    Appearance,
    SceneLayout,
    SceneObject,
    load_scene_layouts,
    make_scenes,
    redraw_appearance,
    render_scene,
    sample_scene,
    scene_categories,
    scene_for_index,
)
from layout2im_core.errors import LayoutError
from layout2im_core.vocab import Vocabulary


def test_make_scenes_is_deterministic(tmp_path):
    a = make_scenes(5, tmp_path / "a", seed=7, size=64, progress=False)
    b = make_scenes(5, tmp_path / "b", seed=7, size=64, progress=False)
    c = make_scenes(5, tmp_path / "c", seed=8, size=64, progress=False)
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    files = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert files == [f"{i:06d}.png" for i in range(1, 6)]
    for name in files:
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()


def test_scenes_pass_the_coco_filters(tmp_path):
    make_scenes(6, tmp_path, seed=1, size=64, progress=False)
    ds, vocab = build_dataset("scenes", tmp_path, "all", shuffle_objects=False)
    assert vocab == Vocabulary.builtin("coco") and len(ds) == 6
    assert not ds.stats.images_dropped and not ds.stats.objects_dropped
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert ds.stats.objects_kept == len(data["annotations"])
    for i in range(len(ds)):
        item = ds[i]
        assert item["img"].shape == (3, 64, 64) and 3 <= len(item["objs"]) <= 8
        assert {vocab.name_of(int(o)) for o in item["objs"]} <= set(SCENE_CATEGORIES)
    assert all(set(a["appearance"]) == {"hue", "shade", "variant", "texture"} for a in data["annotations"])


def test_scene_categories_use_coco_stuff_ids():
    coco = Vocabulary.builtin("coco")
    cats = scene_categories()
    assert len(cats) == len(SCENE_CATEGORIES) >= 12
    assert all(coco.names[c["id"]] == c["name"] for c in cats)


def test_sampled_layouts_follow_the_rules():
    for seed in range(150):
        layout = sample_scene(seed)
        assert 3 <= len(layout) <= 8
        assert layout.objects[0].category == "sky-other"
        for o in layout.objects:
            x0, y0, x1, y1 = o.bbox
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            assert (x1 - x0) * (y1 - y0) > MIN_AREA
            assert o.category in SCENE_CATEGORIES and 0 <= o.appearance.variant < 3
    assert sample_scene(3) == sample_scene(3)
    assert len(sample_scene(4).to_layout_spec()) == len(sample_scene(4))


def _box_diff(a: SceneObject, b: SceneObject) -> float:
    size = 32
    bg = [SceneObject("sky-other", (0, 0, 1, 1), Appearance(0.0, 0.5, 0, 0.0))]
    ia = np.asarray(render_scene(SceneLayout(tuple(bg + [a])), seed=1, size=size), np.float32)
    ib = np.asarray(render_scene(SceneLayout(tuple(bg + [b])), seed=1, size=size), np.float32)
    x0, y0, x1, y1 = (int(v * size) for v in a.bbox)
    return float(np.abs(ia - ib)[y0:y1, x0:x1].mean()) / 255


@pytest.mark.parametrize("factor, values", [("hue", (0.1, 0.7)), ("shade", (0.0, 1.0)),
                                            ("variant", (0, 2)), ("texture", (0.0, 1.0))])
def test_every_appearance_factor_is_visible(factor, values):
    base = dict(hue=0.4, shade=0.5, variant=1, texture=0.5)
    for cat in SCENE_CATEGORIES:
        a, b = (SceneObject(cat, (0.1, 0.2, 0.9, 0.8), Appearance(**{**base, factor: v})) for v in values)
        assert _box_diff(a, b) > 0.01, (cat, factor)


def test_render_and_redraw():
    layout = sample_scene(11)
    assert np.array_equal(np.asarray(render_scene(layout, 5, 32)), np.asarray(render_scene(layout, 5, 32)))
    other = redraw_appearance(layout, seed=2)
    assert [o.bbox for o in other.objects] == [o.bbox for o in layout.objects]
    assert [o.appearance for o in other.objects] != [o.appearance for o in layout.objects]
    assert not np.array_equal(np.asarray(render_scene(layout, 5, 32)), np.asarray(render_scene(other, 5, 32)))
    with pytest.raises(LayoutError, match="unicorn"):
        render_scene(SceneLayout((SceneObject("unicorn", (0, 0, 1, 1), Appearance(0, 0, 0, 0)),)))


def test_load_scene_layouts_round_trip(tmp_path):
    make_scenes(3, tmp_path, seed=4, size=64, progress=False)
    loaded = load_scene_layouts(tmp_path)
    assert [name for name, _ in loaded] == ["000001.png", "000002.png", "000003.png"]
    for i, (_, layout) in enumerate(loaded):
        ref, _ = scene_for_index(4, i)
        assert [o.category for o in layout.objects] == [o.category for o in ref.objects]
        assert [o.appearance for o in layout.objects] == [o.appearance for o in ref.objects]
        np.testing.assert_allclose([o.bbox for o in layout.objects], [o.bbox for o in ref.objects], atol=1e-4)


def test_scene_for_index_matches_the_written_image(tmp_path):
    make_scenes(2, tmp_path, seed=9, size=32, progress=False)
    layout, render_seed = scene_for_index(9, 1)
    written = np.asarray(Image.open(tmp_path / "images" / "000002.png"))
    assert np.array_equal(written, np.asarray(render_scene(layout, render_seed, 32)))


def test_scenes_module_does_not_import_torch():
    code = "import sys, layout2im_core.data.scenes; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
