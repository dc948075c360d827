"""Per-object appearance in the window (tiny random model): sliders move only the selected object's z
and read back what was set, re-roll and lock, copy/paste of looks across categories, seeds, undo and
save -> load bit-exact, the fallback without directions, missing z filled (the variation grid:
test_app_variations.py)."""

import numpy as np
import pytest
import torch

from layout2im_core.project import Project, ProjectObject, load_project, save_project

pytestmark = pytest.mark.gui


def wait_idle(qtbot, w, timeout=20000):
    """Until every asked render and job has answered."""
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy
                    and not w.client.jobs_pending, timeout=timeout)
    return w.last_result


def bits(z):
    return np.float32(z).view(np.uint32)


def scene(w):
    ed = w.editor
    for cat, box in (("sky-other", (0.0, 0.0, 1.0, 0.45)), ("sea", (0.0, 0.45, 1.0, 1.0)),
                     ("boat", (0.3, 0.35, 0.6, 0.6))):
        ed.add_object(cat, box)
    return ed.doc.uids()


@pytest.fixture(scope="module")
def dir_model(tiny_model):
    """The tiny model with made-up appearance directions for boat, sea and sky-other (std 0.3,
    random orthonormal rows), so the non-fallback path runs."""
    from layout2im_core.checkpoint import Directions, ModelFile
    from layout2im_core.inference import Layout2ImModel
    names = ["boat", "sea", "sky-other"]
    ids = torch.tensor(tiny_model.vocabulary.ids_of(names))
    z, k = tiny_model.z_dim, 6
    g = torch.Generator().manual_seed(3)
    comps = torch.stack([torch.linalg.qr(torch.randn(z, z, generator=g))[0].T[:k] for _ in names])
    d = Directions(ids, torch.randn(len(names), z, generator=g) * 0.1, comps.float(),
                   torch.full((len(names), k), 0.3), torch.linspace(0.3, 0.05, k).repeat(len(names), 1))
    mf = ModelFile(tiny_model.config, tiny_model.vocabulary, tiny_model.G.state_dict(), "dirs", {}, d)
    return Layout2ImModel(mf, device="cpu", precision="fp32")


def drag_slider(panel, k, value):
    """Press, move through two positions, release: one drag."""
    s = panel.sliders[k]
    s.setSliderDown(True)
    s.setValue(int(round(value * 50)))
    s.setValue(int(round(value * 100)))
    s.setSliderDown(False)


def test_slider_moves_only_the_selected_objects_z_one_undo_step(make_window, dir_model, qtbot):
    w = make_window(dir_model)
    uids = scene(w)
    ed, panel = w.editor, w.appearance
    first = wait_idle(qtbot, w)
    before = [(o.category, o.z, o.bbox) for o in ed.doc.objects]
    ed.selection.set([uids[2]])
    assert panel.uid == uids[2] and "look 1" in panel.labels[0].text() and panel.sliders[0].isEnabled()
    assert all(s.value() == 0 for s in panel.sliders)
    depth = ed.stack.count()
    events = []
    ed.doc.subscribe(lambda ev: events.append(ev.kind))
    drag_slider(panel, 1, 1.5)
    assert ed.stack.count() == depth + 1, "a slider drag is one undo step"
    assert events == ["look", "look"], "two previews; the release changes nothing more: no event"
    after = ed.doc.objects
    assert [o.category for o in after] == [b[0] for b in before]
    assert after[0].z == before[0][1] and after[1].z == before[1][1], "other objects keep their z"
    assert after[2].z != before[2][1] and after[2].bbox == before[2][2]
    assert w.looks.sliders_of(uids[2]) == pytest.approx([0, 1.5, 0, 0, 0, 0], abs=1e-4)
    assert panel.sliders[1].value() == 150 and panel.values[1].text() == "+1.50"
    # z = base + 1.5 std_1 c_1
    basis = w.model_info.basis("boat")
    expect = np.float64(before[2][1]) + 1.5 * basis.std[1] * basis.components[1]
    assert np.allclose(after[2].z, expect, atol=1e-5)
    # the slider's render (a render asked before the slider moved may answer first on a loaded machine)
    qtbot.waitUntil(lambda: not np.array_equal(w.last_result.image, first.image), timeout=20000)
    second = wait_idle(qtbot, w)
    assert second.request_id > first.request_id and not np.array_equal(first.image, second.image)
    # keyboard steps merge into one step; undo restores z exactly
    panel.sliders[0].setValue(10)
    panel.sliders[0].setValue(20)
    assert ed.stack.count() == depth + 2
    assert w.looks.sliders_of(uids[2]) == pytest.approx([0.2, 1.5, 0, 0, 0, 0], abs=1e-4)
    ed.stack.undo()
    ed.stack.undo()
    assert np.array_equal(bits(ed.doc.get(uids[2]).z), bits(before[2][1]))
    assert all(s.value() == 0 for s in panel.sliders)
    ed.stack.redo()
    assert panel.sliders[1].value() == 150
    # reset: back to the base
    w.action_set["look_reset"].trigger()
    assert np.array_equal(bits(ed.doc.get(uids[2]).z), bits(before[2][1]))
    # typical: the category's mean
    w.action_set["look_typical"].trigger()
    assert np.allclose(ed.doc.get(uids[2]).z, basis.mean, atol=1e-6)


def test_fallback_without_directions_says_so(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    w.editor.selection.set([uids[0]])
    panel = w.appearance
    assert "no appearance directions" in panel.note.text()
    assert panel.labels[0].text().startswith("axis 1")
    z0 = w.editor.doc.get(uids[0]).z
    panel.sliders[2].setValue(100)  # +1 sd along axis 3 = +1 in z[2]
    z1 = w.editor.doc.get(uids[0]).z
    assert z1[2] == pytest.approx(z0[2] + 1.0, abs=1e-6) and z1[:2] == z0[:2] and z1[3:] == z0[3:]


def test_seed_reroll_and_lock(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed, panel = w.editor, w.appearance
    ed.selection.set([uids[1]])
    panel.seed.setValue(1234)
    wait_idle(qtbot, w)
    o = ed.doc.get(uids[1])
    assert o.seed == 1234 and np.array_equal(bits(o.z), bits(tiny_model.sample_z(1, 1234)[0]))
    old = o.z
    w.action_set["reroll"].trigger()  # R
    assert ed.doc.get(uids[1]).z != old and ed.doc.get(uids[1]).seed != 1234
    # lock boat from the panel, then re-roll all, move, resize, change category
    ed.selection.set([uids[2]])
    panel.lock_button.click()
    assert ed.doc.get(uids[2]).locked and not panel.sliders[0].isEnabled()
    kept = ed.doc.get(uids[2]).z
    others = [ed.doc.get(u).z for u in uids[:2]]
    w.action_set["reroll_all"].trigger()  # Shift+R
    assert ed.doc.get(uids[2]).z == kept
    assert all(ed.doc.get(u).z != z for u, z in zip(uids[:2], others))
    ed.nudge_selected(3, 2, big=True)
    ed.commit_bboxes({uids[2]: ed.doc.get(uids[2]).bbox}, "noop")
    ed.set_category_of_selected("person")
    w.action_set["reroll"].trigger()
    w.action_set["paste_look"].trigger()
    assert ed.doc.get(uids[2]).z == kept and ed.doc.get(uids[2]).category == "person"
    # the object list's padlock unlocks it
    row = ed.doc.index_of(uids[2])
    from PySide6.QtCore import Qt
    qtbot.mouseClick(w.object_list.viewport(), Qt.LeftButton, pos=w.object_list.lock_point(row))
    assert not ed.doc.get(uids[2]).locked
    ed.stack.undo()
    assert ed.doc.get(uids[2]).locked


def test_copy_paste_look_across_categories(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[2]])
    w.appearance.sliders[0].setValue(120)  # the boat's look, moved off its base
    boat = ed.doc.get(uids[2])
    w.action_set["copy_look"].trigger()
    ed.selection.set([uids[0], uids[1]])
    depth = ed.stack.count()
    w.action_set["paste_look"].trigger()
    assert ed.stack.count() == depth + 1
    for u, cat in zip(uids[:2], ("sky-other", "sea")):
        o = ed.doc.get(u)
        assert o.z == boat.z and o.base_z == boat.base_z and o.category == cat
    ed.stack.undo()
    assert ed.doc.get(uids[0]).z != boat.z


def test_save_load_keeps_every_z_base_and_seed_bit_exact(make_window, dir_model, dialogs, tmp_path, qtbot):
    w = make_window(dir_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[1]])
    drag_slider(w.appearance, 0, -2.37)
    ed.selection.set([uids[2]])
    drag_slider(w.appearance, 3, 0.91)
    state = [(o.category, o.z, o.base_z, o.seed, o.locked) for o in ed.doc.objects]
    sliders = [w.looks.sliders_of(u) for u in uids]
    dialogs.save_file_answer = str(tmp_path / "looks")
    w.action_set["save"].trigger()
    project = load_project(tmp_path / "looks.l2i.json")
    assert [bits(o.z).tolist() for o in project.objects] == [bits(s[1]).tolist() for s in state]
    w.action_set["new"].trigger()
    dialogs.open_answer = str(tmp_path / "looks.l2i.json")
    w.action_set["open"].trigger()
    loaded = [(o.category, o.z, o.base_z, o.seed, o.locked) for o in ed.doc.objects]
    assert loaded == state
    for a, b in zip(loaded, state):
        assert np.array_equal(bits(a[1]), bits(b[1])) and np.array_equal(bits(a[2] or a[1]), bits(b[2] or b[1]))
    for u, s in zip(ed.doc.uids(), sliders):
        assert np.round(w.looks.sliders_of(u) * 100).tolist() == np.round(s * 100).tolist()
    assert "looks" not in ed.doc.meta


def test_objects_without_z_get_one_when_the_model_loads(make_window, tiny_model, dialogs, tmp_path, qtbot):
    path = tmp_path / "noz.l2i.json"
    save_project(Project((ProjectObject("sea", (0, 0.5, 1, 1)), ProjectObject("boat", (0.2, 0.2, 0.5, 0.5)))),
                 path)
    w = make_window()
    w.files.open_path(str(path), ask=False)
    assert all(o.z is None for o in w.editor.doc.objects)
    with qtbot.waitSignal(w.client.model_loaded, timeout=20000):
        w.set_model(tiny_model)
    zs = [o.z for o in w.editor.doc.objects]
    assert all(z is not None and len(z) == tiny_model.z_dim for z in zs) and zs[0] != zs[1]
    assert all(o.seed is not None for o in w.editor.doc.objects)
    w.action_set["new"].trigger()
    w.files.open_path(str(path), ask=False)  # with a model loaded: at once
    assert all(o.z is not None for o in w.editor.doc.objects)


def test_palette_lists_trained_categories_first(make_window, dir_model):
    w = make_window(dir_model)
    pal = w.palette_panel
    assert pal.categories == ["sky-other", "sea", "boat"] or sorted(pal.categories) == ["boat", "sea", "sky-other"]
    assert pal.show_all.isVisible() and w.editor.current_category in pal.categories
    pal.show_all.setChecked(True)
    assert len(pal.categories) == len(dir_model.categories) and pal.categories[3:] != []
    assert set(pal.categories[:3]) == {"boat", "sea", "sky-other"}


def test_missing_default_model_in_a_frozen_bundle_shows_a_window(make_window, dialogs, monkeypatch):
    import sys
    w = make_window()
    w._on_model_failed("No model loaded: the default model x is missing.")
    assert dialogs.errors == []
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    w._on_model_failed("No model loaded: the default model x is missing.")
    assert len(dialogs.errors) == 1


@pytest.fixture
def named_model(tiny_model):
    """The tiny model with directions for boat: named 'colour' and 'shade' (60 degrees apart) and two
    principal ones orthogonal to them."""
    from layout2im_core.checkpoint import Directions, ModelFile
    from layout2im_core.inference import Layout2ImModel
    z = tiny_model.z_dim
    ids = torch.tensor(tiny_model.vocabulary.ids_of(["boat"]))
    named = torch.tensor([[1.0, 1.0] + [0.0] * (z - 2), [0.0, 1.0, 1.0] + [0.0] * (z - 3)]) / 2 ** 0.5
    principal = torch.eye(z)[4:6]
    d = Directions(ids, torch.zeros(1, z), principal[None], torch.full((1, 2), 0.5), torch.tensor([[0.3, 0.2]]),
                   names=("colour", "shade"), named_components=named[None], named_std=torch.tensor([[0.4, 0.2]]),
                   named_r2=torch.tensor([[0.9, 0.7]]), named_valid=torch.tensor([[True, True]]))
    mf = ModelFile(tiny_model.config, tiny_model.vocabulary, tiny_model.G.state_dict(), "named", {}, d)
    return Layout2ImModel(mf, device="cpu", precision="fp32")


def test_named_sliders_come_first_by_name_and_move_their_direction(make_window, named_model, qtbot):
    w = make_window(named_model)
    uids = scene(w)
    ed, panel = w.editor, w.appearance
    wait_idle(qtbot, w)
    ed.selection.set([uids[2]])  # the boat
    assert [panel.labels[i].text() for i in range(2)] == ["<b>colour</b>", "<b>shade</b>"]
    assert "look 1" in panel.labels[2].text() and "look 2" in panel.labels[3].text()
    assert [panel.sliders[i].isVisible() for i in range(5)] == [True, True, True, True, False]
    assert "R² 0.90" in panel.labels[0].toolTip()
    before = np.float64(ed.doc.get(uids[2]).z)
    drag_slider(panel, 1, 2.0)  # shade +2 std
    after = np.float64(ed.doc.get(uids[2]).z)
    basis = w.model_info.basis("boat")
    assert basis.names[:2] == ("colour", "shade")
    assert np.allclose(after - before, 2.0 * 0.2 * basis.components[1], atol=1e-5)
    assert w.looks.sliders_of(uids[2]) == pytest.approx([0, 2.0, 0, 0], abs=1e-4)  # colour still reads 0
    assert panel.values[1].text() == "+2.00" and panel.values[0].text() == "+0.00"
