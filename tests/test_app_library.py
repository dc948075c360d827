"""The first minute: launch opens an example (or the last project) with its image; File > Examples
lists every shipped model's examples with thumbnails; the Model menu lists shipped models, one click,
remembered; a project made with another shipped model offers to switch to it."""

import pytest

from app.catalog import load_catalog
from layout2im_core.inference import Layout2ImModel
from layout2im_core.project import Project, ProjectObject, save_project

pytestmark = pytest.mark.gui

SCENE = (("sky-other", (0.0, 0.0, 1.0, 0.45)), ("sea", (0.0, 0.45, 1.0, 1.0)), ("boat", (0.3, 0.4, 0.6, 0.6)))
STREET = (("road", (0.0, 0.5, 1.0, 1.0)), ("car", (0.2, 0.5, 0.5, 0.7)))


def project(objs, model, title):
    return Project(tuple(ProjectObject(c, b) for c, b in objs), model, meta={"title": title})


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A resources folder with two tiny models (the default "scenes64" and "cocostuff-mini64") and
    three example layouts."""
    root = tmp_path_factory.mktemp("resources")
    (root / "models").mkdir()
    (root / "layouts").mkdir()
    for seed, name in ((0, "scenes64"), (1, "cocostuff-mini64")):
        Layout2ImModel.random("tiny", seed=seed, name=name).save(root / "models" / f"{name}.safetensors")
    save_project(project(SCENE, "scenes64", "beach"), root / "layouts" / "beach.json")
    save_project(project(STREET, "scenes64", "street"), root / "layouts" / "street.json")
    save_project(project(SCENE[:2], "cocostuff-mini64", "COCO image 1"), root / "layouts" / "coco_1.json")
    return root


@pytest.fixture
def launch(make_window, shipped, monkeypatch, qtbot):
    """Start a window the way ``layout2im-studio`` does, on the temporary resources."""
    monkeypatch.setenv("LAYOUT2IM_RESOURCES", str(shipped))

    def go(project_arg=None, model=None):
        w = make_window()
        w.library.set_catalog(load_catalog(shipped))
        with qtbot.waitSignal(w.client.model_loaded, timeout=30000):
            w.start(model, project_arg, recover=False)
        return w

    return go


def wait_image(qtbot, w):
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy and w.last_result is not None,
                    timeout=20000)
    return w.last_result


def categories(w):
    return [o.category for o in w.editor.doc.objects]


def test_first_launch_opens_the_models_first_example_with_its_image(launch, qtbot):
    w = launch()
    assert w.model_info.name == "scenes64"
    assert categories(w) == [c for c, _ in SCENE]
    assert w.windowTitle() == "Beach (example) — Layout2Im Studio" and not w.files.modified
    assert wait_image(qtbot, w).image.shape == (64, 64, 3) and w.image_view.image is not None
    assert all(o.z is not None for o in w.editor.doc.objects)


def test_launch_reopens_the_last_project_with_its_model(launch, app_settings, tmp_path, qtbot):
    path = tmp_path / "mine.l2i.json"
    save_project(project(STREET, "cocostuff-mini64", "mine"), path)
    app_settings.add_recent_file(str(path))
    w = launch()
    assert categories(w) == [c for c, _ in STREET] and w.files.path == path
    assert w.model_info.name == "cocostuff-mini64"  # the model the project records
    wait_image(qtbot, w)
    path.unlink()  # gone by the next launch: the example opens, quietly
    w2 = launch()
    assert categories(w2) == [c for c, _ in SCENE] and w2.files.path is None


def test_examples_menu_lists_every_model_with_thumbnails(launch, shipped, app_settings, qtbot):
    w = launch()
    menu = w.action_set.examples_menu
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["scenes64 (loaded)", "Beach", "Street", "cocostuff-mini64", "COCO image 1"]
    assert all(not a.icon().isNull() for a in menu.entries())
    menu.aboutToShow.emit()  # the first opening renders the thumbnails, each with its own model
    qtbot.waitUntil(lambda: len(menu.rendered) == 3, timeout=30000)
    coco = menu.entry(shipped / "layouts" / "coco_1.json")
    shown = coco.icon().pixmap(64, 64).toImage()
    painted = menu.rendered[str(shipped / "layouts" / "coco_1.json")]
    assert shown.width() == 64 and all(shown.pixelColor(x, y).getRgb()[:3] == tuple(painted[y, x])
                                       for x, y in ((5, 5), (32, 32), (60, 50)))  # the rendered picture
    beach_img = menu.rendered[str(shipped / "layouts" / "beach.json")]
    assert beach_img.shape == (64, 64, 3) and beach_img.std() > 0
    with qtbot.waitSignal(w.client.model_loaded, timeout=30000):
        coco.trigger()  # an example of another model: opens it and switches the model
    assert w.model_info.name == "cocostuff-mini64" and categories(w) == ["sky-other", "sea"]
    assert w.windowTitle().startswith("COCO image 1 (example)")
    assert app_settings.model_choice == "cocostuff-mini64"
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["scenes64", "Beach", "Street", "cocostuff-mini64 (loaded)", "COCO image 1"]


def test_model_menu_lists_shipped_models_and_remembers_the_choice(launch, app_settings, qtbot, dialogs):
    w = launch()
    acts = w.action_set.model_actions
    assert list(acts) == ["scenes64", "cocostuff-mini64"] and acts["scenes64"].isChecked()
    model_menu = [a.text() for a in w.action_set.menus["Model"].actions() if a.text()]
    assert model_menu[:3] == ["scenes64", "cocostuff-mini64", "Open Model &File…"]
    with qtbot.waitSignal(w.client.model_loaded, timeout=30000):
        acts["cocostuff-mini64"].trigger()
    assert w.model_info.name == "cocostuff-mini64" and acts["cocostuff-mini64"].isChecked()
    assert not acts["scenes64"].isChecked() and app_settings.model_choice == "cocostuff-mini64"
    assert dialogs.errors == []
    w2 = launch()  # a restart, same settings
    assert w2.model_info.name == "cocostuff-mini64" and w2.action_set.model_actions["cocostuff-mini64"].isChecked()
    assert categories(w2) == ["sky-other", "sea"]  # the example of that model
    app_settings.model_choice = "/no/such/model.safetensors"
    w3 = launch()
    assert w3.model_info.name == "scenes64" and app_settings.model_choice == ""


@pytest.mark.parametrize("answer", [True, False])
def test_project_of_another_shipped_model_offers_to_switch(launch, dialogs, tmp_path, qtbot, answer):
    w = launch()
    path = tmp_path / "coco.l2i.json"
    save_project(project(STREET, "cocostuff-mini64", "coco"), path)
    dialogs.yes_no_answer = answer
    if answer:
        with qtbot.waitSignal(w.client.model_loaded, timeout=30000):
            w.files.open_path(str(path), ask=False)
    else:
        w.files.open_path(str(path), ask=False)
    assert dialogs.questions == ["Switch model?"]
    assert w.model_info.name == ("cocostuff-mini64" if answer else "scenes64")
    assert categories(w) == [c for c, _ in STREET]


def test_project_of_a_model_not_installed_says_so(launch, dialogs, tmp_path, qtbot):
    w = launch()
    path = tmp_path / "x.l2i.json"
    save_project(project(STREET, "somebody-elses-model", "x"), path)
    w.files.open_path(str(path), ask=False)
    assert dialogs.questions == [] and w.model_info.name == "scenes64"
    assert "somebody-elses-model" in w.statusBar().currentMessage()
    save_project(project(STREET, "scenes64", "y"), path)  # the loaded model: nothing to ask
    w.files.open_path(str(path), ask=False)
    assert dialogs.questions == []


def test_the_shipped_catalog_groups_examples_by_model():
    catalog = load_catalog()
    names = [m.name for m in catalog.models]
    assert names[0] == "scenes64" and "cocostuff-mini64" in names
    beach = catalog.examples_for("scenes64")[0]
    assert beach.path.name == "beach.json" and beach.title == "Beach"
    assert len(catalog.examples_for("cocostuff-mini64")) >= 1
    assert [n for n, _ in catalog.groups()][:2] == ["scenes64", "cocostuff-mini64"]
    assert catalog.model_name_of(catalog.model_path("scenes64")) == "scenes64"
    assert catalog.model_name_of("/elsewhere/scenes64.safetensors") is None


def test_a_remembered_model_that_no_longer_loads_gives_way_to_the_default(launch, app_settings, tmp_path, qtbot,
                                                                         dialogs):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model" * 100)
    app_settings.model_choice = str(broken)
    w = launch()  # waits for the (default) model that did load
    assert w.model_info.name == "scenes64" and app_settings.model_choice == ""
    assert categories(w) == [c for c, _ in SCENE] and dialogs.errors == []
