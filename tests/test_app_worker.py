"""The inference worker: images arrive off the GUI thread, requests coalesce (newest wins), stale
results are dropped, failures become messages, and the busy flag follows."""

import inspect
import threading
import time

import numpy as np
import pytest

from app.inference_worker import InferenceClient
from layout2im_core.model_api import AppearanceDirections, RenderModel, sample_z
from layout2im_core.types import LayoutSpec, ObjectSpec
from layout2im_core.vocab import Vocabulary

pytestmark = pytest.mark.gui


class SlowModel:
    """A test double of the whole model interface the app uses (``model_api.RenderModel``): each render
    takes ``delay`` s and its image encodes the number of objects; no directions (unit axes)."""

    name = "slow"
    device = "cpu"
    precision = "fp32"
    precision_reason = "a test double"
    vocabulary = Vocabulary.from_names(["sky", "sea"])
    categories = ["sky", "sea"]
    trained_categories = ["sky", "sea"]
    z_dim = 4
    max_objects = 8
    trained_max_objects = 8
    has_directions = False

    def __init__(self, delay=0.3, fail=False):
        self.delay, self.fail = delay, fail
        self.calls, self.threads = [], set()

    def set_device(self, device):
        self.device = device or "cpu"

    def sample_z(self, n, seed=None):
        return sample_z(n, self.z_dim, seed)

    def generate(self, layout, seed=None):
        self.threads.add(threading.get_ident())
        self.calls.append(len(layout))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom")
        return np.full((64, 64, 3), len(layout), np.uint8)

    def generate_batch(self, layouts, seed=None):
        return np.stack([self.generate(lay, seed) for lay in layouts])

    def encode_appearance(self, image, bbox, category):
        return np.zeros(self.z_dim, np.float32)

    def directions(self, category, k=None):
        return AppearanceDirections.unit_axes(self.z_dim, k)


def test_the_test_double_and_the_model_implement_the_whole_interface(tiny_model):
    members = [m for m in vars(RenderModel) if not m.startswith("_")] + list(RenderModel.__annotations__)
    for model in (SlowModel(), tiny_model):
        assert isinstance(model, RenderModel)
        assert all(hasattr(model, m) for m in members)
    for m in members:  # methods take the protocol's arguments
        proto = getattr(RenderModel, m, None)
        if callable(proto):
            want = list(inspect.signature(proto).parameters)[1:]
            for model in (SlowModel(), tiny_model):
                got = list(inspect.signature(getattr(model, m)).parameters)
                assert got[:len(want)] == want, (type(model).__name__, m, got)


def test_the_app_draws_the_models_codes_for_a_seed(tiny_model):
    from app.appearance import random_looks, seeded_look
    for seed in (0, 1234, 2 ** 31 - 2):
        z, s = seeded_look(tiny_model.z_dim, seed)
        assert s == seed and np.array_equal(np.float32(z), tiny_model.sample_z(1, seed)[0])
    looks = random_looks(tiny_model.z_dim, 3)
    assert len({s for _, s in looks}) == 3 and all(len(z) == tiny_model.z_dim for z, _ in looks)


def lay(n):
    return LayoutSpec(tuple(ObjectSpec("sky", (0, 0, 1, 1)) for _ in range(n)))


@pytest.fixture
def client(qtbot):
    c = InferenceClient()
    yield c
    c.shutdown()


def load(qtbot, client, model):
    with qtbot.waitSignal(client.model_loaded, timeout=10000):
        client.set_model(model)


def test_real_tiny_model_delivers_an_image(qtbot, client, tiny_model):
    load(qtbot, client, tiny_model)
    assert client.info.z_dim == tiny_model.z_dim and client.info.categories == tuple(tiny_model.categories)
    with qtbot.waitSignal(client.image_ready, timeout=20000) as sig:
        client.request(LayoutSpec.of(ObjectSpec("sky-other", (0, 0, 1, 0.5)), ObjectSpec("sea", (0, 0.5, 1, 1))))
    res = sig.args[0]
    assert res.image.shape == (64, 64, 3) and res.image.dtype == np.uint8 and res.elapsed_ms > 0


def test_requests_coalesce_and_newest_wins(qtbot, client):
    model = SlowModel()
    load(qtbot, client, model)
    shown = []
    client.image_ready.connect(lambda r: shown.append(int(r.image[0, 0, 0])))
    client.request(lay(1))
    qtbot.waitUntil(lambda: model.calls == [1], timeout=5000)  # the first render is running
    for n in range(2, 9):  # 7 more requests while it runs
        client.request(lay(n))
    assert client.busy
    qtbot.waitUntil(lambda: not client.busy, timeout=10000)
    assert model.calls == [1, 8]  # the 6 requests in between were never computed
    assert shown == [1, 8] and shown[-1] == 8
    assert threading.get_ident() not in model.threads  # never on the GUI thread


def test_stale_results_are_dropped(qtbot, client):
    model = SlowModel(delay=0.1)
    load(qtbot, client, model)
    shown = []
    client.image_ready.connect(lambda r: shown.append(r.request_id))
    client.request(lay(2))
    client.new_epoch()  # e.g. another document was opened while rendering
    qtbot.waitUntil(lambda: not client.busy, timeout=10000)
    assert shown == [] and client.dropped == 1
    rid = client.request(lay(3))
    qtbot.waitUntil(lambda: shown == [rid], timeout=10000)


def test_results_arriving_out_of_order_are_dropped(qtbot, client):
    from app.inference_worker import RenderResult
    img = np.zeros((64, 64, 3), np.uint8)
    shown = []
    client.image_ready.connect(lambda r: shown.append(r.request_id))
    client._next_id = 5
    client._on_rendered(RenderResult(5, client.epoch, img, 1.0))
    client._on_rendered(RenderResult(3, client.epoch, img, 1.0))
    assert shown == [5] and client.dropped == 1


def test_render_failure_becomes_a_message(qtbot, client):
    load(qtbot, client, SlowModel(delay=0.0, fail=True))
    with qtbot.waitSignal(client.render_error, timeout=10000) as sig:
        client.request(lay(1))
    assert "boom" in sig.args[0]
    qtbot.waitUntil(lambda: not client.busy, timeout=5000)


def test_corrupt_model_file_reports_failure(qtbot, client, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 100)
    with qtbot.waitSignal(client.model_failed, timeout=30000) as sig:
        client.load(str(bad))
    assert "bad.safetensors" in sig.args[0]
    assert client.info is None


def test_a_cached_repeat_reports_the_time_the_image_took(qtbot, client):
    load(qtbot, client, SlowModel(delay=0.05))
    times = []
    for layout in (lay(2), lay(2), lay(3)):
        with qtbot.waitSignal(client.image_ready, timeout=10000) as sig:
            client.request(layout)
        times.append(sig.args[0].elapsed_ms)
    assert times[0] >= 50 and times[1] == times[0] and times[2] >= 50 and times[2] != times[0]
