"""Appearance directions (shapes, orthonormality, fallback) and export -> load_model_file round trip."""

import json

import pytest
import torch

from layout2im_core.checkpoint import load_model_file
from layout2im_core.config import model_preset
from layout2im_core.models.generator import Generator
from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training.config import train_preset
from layout2im_core.training.directions import (
    directions_from_codes,
    encode_crops,
    load_directions,
    principal_directions,
)
from layout2im_core.training.export import card_markdown, export_run
from layout2im_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_principal_directions_recover_known_axes():
    g = torch.Generator().manual_seed(0)
    z = 6
    axes = torch.linalg.qr(torch.randn(z, z, generator=g))[0].T  # orthonormal rows
    scales = torch.tensor([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    codes = 3.0 + (torch.randn(4000, z, generator=g) * scales) @ axes
    mean, comps, std, explained = principal_directions(codes, 3)
    assert mean.shape == (z,) and comps.shape == (3, z) and std.shape == (3,) and explained.shape == (3,)
    assert torch.allclose(mean, torch.full((z,), 3.0), atol=0.3)
    assert torch.allclose(comps @ comps.T, torch.eye(3), atol=1e-5)
    assert torch.allclose((comps * axes[:3]).sum(1).abs(), torch.ones(3), atol=0.02)
    assert torch.allclose(std, scales[:3], rtol=0.05)
    assert torch.allclose(explained, scales[:3] ** 2 / (scales ** 2).sum(), atol=0.01)
    assert bool((explained[:-1] >= explained[1:]).all())


def test_directions_of_the_aggregate_posterior():
    g = torch.Generator().manual_seed(2)
    z = 4
    # A collapsed encoder: mu barely moves, sigma ~ 1 -> about the prior's unit spread, not mu's 0.01.
    mu = torch.randn(3000, z, generator=g) * 0.01
    _, _, std, explained = principal_directions(mu, 2, var=torch.ones(3000, z))
    assert torch.allclose(std, torch.ones(2), atol=0.01)
    assert torch.allclose(explained, torch.full((2,), 0.25), atol=0.01)
    # A sharp encoder with one strong axis: sigma adds its variance to every axis.
    mu = torch.randn(3000, z, generator=g) * torch.tensor([3.0, 0.0, 0.0, 0.0])
    mean, comps, std, _ = principal_directions(mu, 2, var=torch.full((3000, z), 0.04))
    assert abs(float(comps[0, 0])) == pytest.approx(1.0, abs=1e-3)
    assert float(std[0]) == pytest.approx((9.0 + 0.04) ** 0.5, rel=0.05)
    assert float(std[1]) == pytest.approx(0.2, rel=0.01)
    # Without var it is the plain PCA of mu (as before).
    assert float(principal_directions(mu, 1)[2][0]) == pytest.approx(3.0, rel=0.05)
    d = directions_from_codes(torch.ones(3000, dtype=torch.int64), mu, [1], z, top_k=2,
                              var=torch.full((3000, z), 0.04))
    assert torch.allclose(d.std[0], std)


def test_categories_with_too_few_crops_fall_back_to_unit_axes():
    g = torch.Generator().manual_seed(1)
    objs = torch.tensor([1] * 40 + [2] * 3)
    mu = torch.randn(43, 8, generator=g)
    d = directions_from_codes(objs, mu, category_ids=[1, 2, 3], z_dim=8, top_k=4, min_crops=10)
    assert d.ids.tolist() == [1, 2, 3] and d.fallback.tolist() == [False, True, True]
    assert d.mean.shape == (3, 8) and d.components.shape == (3, 4, 8) and d.std.shape == d.explained.shape == (3, 4)
    for k in range(3):
        assert torch.allclose(d.components[k] @ d.components[k].T, torch.eye(4), atol=1e-5)
    assert torch.equal(d.components[2], torch.eye(8)[:4]) and torch.equal(d.std[2], torch.ones(4))
    assert torch.allclose(d.mean[1], mu[40:].mean(0)) and torch.equal(d.mean[2], torch.zeros(8))
    assert d.counts.tolist() == [40, 3, 0]
    md = d.model_directions()
    assert md.ids.tolist() == [1]  # the model file holds only real directions
    assert d.summary()["fallback_ids"] == [2, 3]


def test_encode_crops_uses_eval_mode_mu(synthetic_layouts):
    ds = synthetic_layouts(n=5)
    torch.manual_seed(0)
    G = Generator(model_preset("tiny", len(ds.vocabulary))).train()
    objs, mu, var, most, attrs, where = encode_crops(G, ds, max_images=3, batch_size=2)
    assert G.training  # mode restored
    n = sum(int(ds[i]["objs"].shape[0]) for i in (0, 2, 4))  # evenly spread images
    assert objs.shape == (n,) and mu.shape == var.shape == (n, 8) and mu.dtype == torch.float32
    assert bool((var > 0).all())
    assert len(where) == n and where[0] == (0, 0) and {i for i, _ in where} == {0, 2, 4}  # (item, position)
    again = encode_crops(G, ds, max_images=3, batch_size=3)[1]
    assert torch.allclose(mu, again, atol=1e-5)  # eval mode: independent of batch composition, no sampling
    assert most == max(int(ds[i]["objs"].shape[0]) for i in (0, 2, 4))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, synthetic_layouts):
    run = tmp_path_factory.mktemp("export") / "run"
    ds = synthetic_layouts(n=8, categories=3)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    Trainer(train_preset("tiny-test").replace(directions_max_images=0), run, dataset=ds, vocabulary=ds.vocabulary,
            progress=False, argv=["layout2im", "train", "--preset", "tiny-test"]).run()
    torch.set_num_threads(old)
    return run


def test_run_directions_file(trained_run):
    d, step = load_directions(trained_run / "directions.pt")
    assert step == 2 and d.ids.tolist() == [1, 2, 3]
    assert d.components.shape == (3, 4, 8)
    real = ~d.fallback
    assert bool(real.any())
    for k in real.nonzero().flatten().tolist():
        c = d.components[k]
        assert torch.allclose(c @ c.T, torch.eye(4), atol=1e-4)
        assert bool((d.explained[k] >= 0).all()) and float(d.explained[k].sum()) <= 1 + 1e-5


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_export_round_trip(trained_run, tmp_path, dtype):
    out = tmp_path / "model.safetensors"
    card = export_run(trained_run, out, dtype=dtype, name="tiny-synth")
    mf = load_model_file(out)
    ck = ckpts.load_checkpoint(ckpts.latest_checkpoint(trained_run))
    assert mf.name == "tiny-synth" and mf.config.to_dict() == ck["model_config"]
    assert list(mf.vocabulary.names) == ck["vocabulary"]
    assert mf.state_dict.keys() == ck["G"].keys()
    for k, v in ck["G"].items():
        if dtype == "fp32" or not v.is_floating_point():
            assert torch.equal(mf.state_dict[k], v), k
        else:
            assert torch.allclose(mf.state_dict[k].float(), v.float(), rtol=1e-2, atol=1e-2), k
    weight_dtypes = {v.dtype for k, v in mf.state_dict.items() if v.is_floating_point() and "running_" not in k}
    assert weight_dtypes == {torch.bfloat16 if dtype == "bf16" else torch.float32}
    d, _ = load_directions(trained_run / "directions.pt")
    assert torch.equal(mf.directions.ids, d.ids[~d.fallback])
    assert mf.card == json.loads(json.dumps(card))
    assert card["steps"] == 2 and card["preset"] == "tiny" and card["dtype"] == dtype
    assert card["command"] == "layout2im train --preset tiny-test"
    assert card["hardware"]["torch"] == torch.__version__ and card["hardware"]["cores"] >= 1
    assert card["parameters"] == sum(p.numel() for p in Generator(mf.config).parameters())
    md = out.with_suffix(".md").read_text()
    assert md == card_markdown(card) and "# tiny-synth" in md and "layout2im train --preset tiny-test" in md


def test_exported_file_loads_in_the_inference_api(trained_run, tmp_path):
    inference = pytest.importorskip("layout2im_core.inference")
    out = tmp_path / "m.safetensors"
    export_run(trained_run, out)
    model = inference.Layout2ImModel.load(str(out), device="cpu")
    d, _ = load_directions(trained_run / "directions.pt")
    for cid, fb in zip(d.ids.tolist(), d.fallback.tolist()):
        got = model.directions(model.vocabulary.name_of(cid))
        assert got.fallback == fb and got.components.shape[1] == 8


def test_card_lists_categories_by_count_and_trains_on_the_frequent_ones(tmp_path):
    from layout2im_core.config import model_preset
    from layout2im_core.training.config import TrainConfig
    from layout2im_core.training.directions import DirectionSet
    from layout2im_core.training.export import MIN_TRAINED_COUNT, build_card, card_markdown
    from layout2im_core.vocab import Vocabulary

    vocab = Vocabulary.builtin("coco")
    ids = vocab.ids_of(["sky-other", "boat", "giraffe"])
    k, z = 3, 4
    dirs = DirectionSet(torch.tensor(ids), torch.zeros(k, z), torch.zeros(k, 2, z), torch.ones(k, 2),
                        torch.zeros(k, 2), torch.tensor([False, False, True]),
                        torch.tensor([40, MIN_TRAINED_COUNT - 1, 0]))
    ckpt = {"train_config": TrainConfig().to_dict(), "model_config": model_preset("tiny", len(vocab)).to_dict(),
            "vocabulary": list(vocab.names), "G": {"w": torch.zeros(3)}, "step": 7}
    card = build_card(ckpt, tmp_path, "m", dirs, "fp32")
    assert card["trained_categories"] == [ids[0]]  # boat: seen, but too rarely
    assert card["category_counts"] == {"sky-other": 40, "boat": MIN_TRAINED_COUNT - 1}
    md = card_markdown(card)
    assert "sky-other (40)" in md and f"boat ({MIN_TRAINED_COUNT - 1})" in md and "giraffe" not in md


def test_card_renders_check_scenes_as_a_table_and_links_its_figures():
    from layout2im_core.metrics.report import entry
    from layout2im_core.training.config import TrainConfig, train_preset
    from layout2im_core.training.export import card_markdown

    result = {"model": "m", "n": 3, "seed": 0, "timings": {"total_s": 1.0},
              "figures": {"identity: object accuracy top-1 on generated crops":
                          entry(91.0, 10, (">=", 90.0), unit="%")}}
    card = {"name": "m", "data": {"kind": "scenes", "path": "d", "split": "all", "images": 3}, "preset": "isla",
            "parameters": 1, "steps": 2, "batch_size": 8, "world_size": 1, "precision": "bf16", "wall_time_s": 3600,
            "dtype": "fp32", "hardware": {}, "train_config": train_preset("scenes64").to_dict(),
            "metrics": {"check-scenes": result}, "figures": {"Samples": "m-samples.png"}}
    md = card_markdown(card)
    assert "identity: object accuracy top-1 on generated crops" in md and "91.00 %" in md and "pass" in md
    assert "![Samples](m-samples.png)" in md
    assert "adv_loss hinge" in md and "ms 1" in md  # the recipe
    assert TrainConfig  # imported for the preset above
