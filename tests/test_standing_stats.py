"""Standing batch-norm statistics of an exported generator (``training/standing_stats.py``), the
``export`` default for runs with an EMA copy, and ``layout2im standing-stats`` for model files."""

from __future__ import annotations

import pytest
import torch

from layout2im_core.checkpoint import load_model_file, save_model_file
from layout2im_core.config import model_preset
from layout2im_core.errors import DataError, ModelFileError
from layout2im_core.models.generator import Generator
from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training.standing_stats import generation_batch_norms, standing_statistics


def _generator(ds, seed=0, preset="tiny"):
    torch.manual_seed(seed)
    G = Generator(model_preset(preset, len(ds.vocabulary)))
    for m in generation_batch_norms(G):  # statistics that belong to no weights at all
        m.running_mean.fill_(3.0), m.running_var.fill_(50.0)
    return G.eval()


@pytest.mark.parametrize("preset", ["tiny", "tiny-isla"])
def test_one_batch_gives_eval_mode_that_batchs_train_mode_image(synthetic_layouts, preset):
    """Calibrated on one batch, G's running statistics are exactly that batch's (a train-mode forward
    of the same batch and z, momentum None), and in eval mode G paints the batch about as train mode
    does (the running variance is unbiased, x n / (n - 1), where the small maps hold few values), far
    closer than with the statistics it had. The crop encoder's statistics are not touched; the
    momentum is restored."""
    import copy

    from layout2im_core.data.collate import collate_batch
    from layout2im_core.training.loader import SeededObjectOrder

    ds = synthetic_layouts(n=4)
    G = _generator(ds, preset=preset)
    G0 = copy.deepcopy(G)
    crop_before = {k: v.clone() for k, v in G.crop_encoder.state_dict().items()}
    assert standing_statistics(G, ds, images=4, batch_size=4, seed=7) == 4 and not G.training
    keyed = SeededObjectOrder(ds, seed=7, order="file")
    batch = collate_batch([keyed[(0, i)] for i in range(4)])
    with torch.no_grad():
        torch.manual_seed(7)  # the z draws standing_statistics made
        crops = G0.crop(G0.to_model_space(batch.imgs), batch.bboxes[batch.obj_mask], batch.obj_to_img)
        z = G0._pad(G0.crop_encoder(crops, batch.objs[batch.obj_mask], sample=True).z, batch.obj_mask)
        stale = G0.generate(batch.objs, batch.bboxes, z, batch.obj_mask)  # G0's made-up statistics
        for m in generation_batch_norms(G0):
            m.reset_running_stats(), setattr(m, "momentum", None)
        G0.layout_encoder.train(), G0.decoder.train()
        want = G0.generate(batch.objs, batch.bboxes, z, batch.obj_mask)
        got = G.generate(batch.objs, batch.bboxes, z, batch.obj_mask)
    for a, b in zip(generation_batch_norms(G), generation_batch_norms(G0)):
        assert torch.equal(a.running_mean, b.running_mean) and torch.equal(a.running_var, b.running_var)
        assert int(a.num_batches_tracked) == 1
    assert float((got - want).abs().mean()) < 5e-3
    assert float((stale - want).abs().mean()) > 10 * float((got - want).abs().mean())
    assert all(m.momentum == 0.1 for m in generation_batch_norms(G))
    for k, v in G.crop_encoder.state_dict().items():
        assert torch.equal(v, crop_before[k]), k


def test_a_last_batch_of_one_joins_the_batch_before(synthetic_layouts):
    ds = synthetic_layouts(n=8)
    assert len(ds) > 5
    G = _generator(ds)
    counts = []
    bn = generation_batch_norms(G)[-1]
    hook = bn.register_forward_hook(lambda mod, inp, out: counts.append(inp[0].shape[0]))
    assert standing_statistics(G, ds, images=5, batch_size=2) == 5
    hook.remove()
    assert counts == [2, 3] and int(bn.num_batches_tracked) == 2


def test_statistics_are_repeatable_and_restore_the_global_rng(synthetic_layouts):
    ds = synthetic_layouts(n=8)
    a, b = _generator(ds), _generator(ds)
    torch.manual_seed(123)
    standing_statistics(a, ds, images=8, batch_size=4, seed=5)
    after = torch.rand(3)
    torch.manual_seed(123)
    standing_statistics(b, ds, images=8, batch_size=4, seed=5)
    assert torch.equal(after, torch.rand(3))
    for x, y in zip(generation_batch_norms(a), generation_batch_norms(b)):
        assert torch.equal(x.running_mean, y.running_mean) and torch.equal(x.running_var, y.running_var)
    c = _generator(ds)
    standing_statistics(c, ds, images=8, batch_size=4, seed=6)  # other z draws: other statistics
    assert any(not torch.equal(x.running_var, y.running_var)
               for x, y in zip(generation_batch_norms(a), generation_batch_norms(c)))


def test_bad_arguments_leave_the_statistics_alone(synthetic_layouts):
    ds = synthetic_layouts(n=4)
    G = _generator(ds)
    for kw in ({"images": 1}, {"batch_size": 1}):
        with pytest.raises(ValueError, match="images >= 2 and batch_size >= 2"):
            standing_statistics(G, ds, **{"images": 4, "batch_size": 2, **kw})
    for few in ([], [ds[0]]):
        with pytest.raises(DataError, match="at least 2 training images"):
            standing_statistics(G, few, images=4)

    class NoObjects(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"img": torch.zeros(3, 64, 64), "objs": torch.zeros(0, dtype=torch.int64),
                    "bboxes": torch.zeros(0, 4)}

    with pytest.raises(DataError, match="no image of the data set holds an object"):
        standing_statistics(G, NoObjects(), images=4, batch_size=2)
    for m in generation_batch_norms(G):
        assert bool((m.running_mean == 3.0).all()) and bool((m.running_var == 50.0).all())


@pytest.fixture(scope="module")
def ema_run(cli_world, tmp_path_factory):
    """A one-step tiny run with an EMA copy, on the CLI world's procedural scenes."""
    from layout2im_core.training.config import train_preset
    from layout2im_core.training.trainer import train

    run = tmp_path_factory.mktemp("ema") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = train_preset("tiny-test").replace(data_path=str(cli_world["scenes"]), split="all", iterations=1,
                                                ema_decay=0.9, batch_size=2)
        train(cfg, run, progress=False, argv=["test"])
    finally:
        torch.set_num_threads(n)
    return run


def _stats(state):
    return {k: v for k, v in state.items() if k.startswith(("layout_encoder.", "decoder.")) and "running_" in k}


def test_export_gives_the_ema_copy_its_own_statistics(ema_run, cli_world, tmp_path):
    from layout2im_core.training.export import export_run

    ck = ckpts.load_checkpoint(ckpts.latest_checkpoint(ema_run))
    card = export_run(ema_run, tmp_path / "std.safetensors")
    plain = export_run(ema_run, tmp_path / "plain.safetensors", standing_images=0)
    std, old = load_model_file(tmp_path / "std.safetensors"), load_model_file(tmp_path / "plain.safetensors")
    assert card["standing_stats"] == {"images": 4, "batch_size": 2, "seed": 0, "data": str(cli_world["scenes"])}
    assert plain["standing_stats"] is None
    assert "Batch norm | standing statistics" in (tmp_path / "std.md").read_text()
    for k, v in ck["G_ema"].items():
        assert torch.equal(old.state_dict[k], v), k  # 0: exactly the EMA copy, as before
        if k in _stats(v_all := ck["G_ema"]) and k.endswith("running_var"):
            assert not torch.equal(std.state_dict[k], v_all[k]), k
        elif "running_" not in k:
            assert torch.equal(std.state_dict[k], v), k  # weights untouched
    assert std.directions is not None

    # the model-file command gives a file exported without them the same statistics
    from layout2im_core.training.export import restat_model_file

    card2 = restat_model_file(tmp_path / "plain.safetensors", tmp_path / "re.safetensors")
    re = load_model_file(tmp_path / "re.safetensors")
    for k, v in _stats(std.state_dict).items():
        assert torch.allclose(re.state_dict[k], v, atol=1e-6), k
    assert card2["standing_stats"] == card["standing_stats"] and "metrics" not in card2
    assert torch.allclose(re.directions.mean, std.directions.mean, atol=1e-5)


def test_standing_stats_command_and_its_bad_input(ema_run, cli_world, tmp_path, capsys):
    import dataclasses

    from layout2im_core.cli import main
    from layout2im_core.inference import Layout2ImModel
    from layout2im_core.training.export import export_run

    export_run(ema_run, tmp_path / "m.safetensors", standing_images=0)
    out = tmp_path / "new.safetensors"
    assert main(["standing-stats", str(tmp_path / "m.safetensors"), "--out", str(out), "--images", "2"]) == 0
    assert "over 2 images" in capsys.readouterr().out
    img = Layout2ImModel.load(str(out), precision="fp32").generate(_one_object_layout(), seed=0)
    assert img.shape == (64, 64, 3) and img.dtype.name == "uint8"
    mf = load_model_file(tmp_path / "m.safetensors")
    save_model_file(tmp_path / "nocard.safetensors", dataclasses.replace(mf, card={}))
    with pytest.raises(ModelFileError, match="no train_config"):
        from layout2im_core.training.export import restat_model_file
        restat_model_file(tmp_path / "nocard.safetensors", tmp_path / "x.safetensors")
    assert main(["standing-stats", str(tmp_path / "nocard.safetensors"), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "no train_config" in capsys.readouterr().err
    assert main(["standing-stats", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "y.safetensors"),
                 "--data", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "y.safetensors").exists()


def _one_object_layout():
    from layout2im_core.types import LayoutSpec, ObjectSpec

    return LayoutSpec((ObjectSpec("sky-other", (0.0, 0.0, 1.0, 0.5)),))


def test_standing_stats_refuses_what_it_cannot_do_well(ema_run, cli_world, tmp_path, capsys):
    """Too few images, a card path for the model file, a bad train_config in the card, an explicit
    export whose data is gone: exit 2 with one line, nothing written. A bf16 file stays bf16."""
    import dataclasses
    import shutil

    from layout2im_core.cli import main
    from layout2im_core.data.scenes import make_scenes
    from layout2im_core.training.export import export_run, restat_model_file

    src = tmp_path / "m.safetensors"
    export_run(ema_run, src, standing_images=0)
    for argv, says in (
            (["standing-stats", str(src), "--out", str(tmp_path / "a.safetensors"), "--images", "1"], "--images"),
            (["export", str(ema_run), "--out", str(tmp_path / "a.safetensors"), "--standing-stats", "1"],
             "at least 2"),
            (["standing-stats", str(src), "--out", str(tmp_path / "a.md")], "FILE.md"),
            (["export", str(ema_run), "--out", str(tmp_path / "a.md")], "FILE.md")):
        assert _rc(main, argv) == 2, argv
        assert says in capsys.readouterr().err, argv
    assert main(["standing-stats", str(src), "--out", str(tmp_path / "a.safetensors"), "--data", ""]) == 2
    assert "the path is empty" in capsys.readouterr().err
    one = tmp_path / "one"
    make_scenes(1, one, seed=0, size=64, progress=False)
    assert main(["standing-stats", str(src), "--out", str(tmp_path / "a.safetensors"), "--data", str(one)]) == 2
    assert "at least 2 training images" in capsys.readouterr().err
    mf = load_model_file(src)
    tc = dict(mf.card["train_config"], data_path=5)
    save_model_file(tmp_path / "bad.safetensors", dataclasses.replace(mf, card=dict(mf.card, train_config=tc)))
    assert main(["standing-stats", str(tmp_path / "bad.safetensors"), "--out", str(tmp_path / "a.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "train_config in its card" in err and "data_path" in err
    assert not list(tmp_path.glob("a.*"))

    # an explicit --standing-stats whose data cannot be read is an error (the default only warns)
    moved = tmp_path / "run"
    shutil.copytree(ema_run, moved)
    ck_path = ckpts.latest_checkpoint(moved)
    ck = torch.load(ck_path, weights_only=True)
    ck["train_config"] = dict(ck["train_config"], data_path=str(tmp_path / "gone"))
    torch.save(ck, ck_path)
    assert main(["export", str(moved), "--out", str(tmp_path / "b.safetensors"), "--standing-stats", "8"]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "b.safetensors").exists()
    assert main(["export", str(moved), "--out", str(tmp_path / "b.safetensors")]) == 0
    assert load_model_file(tmp_path / "b.safetensors").card["standing_stats"] is None

    # bf16 in, bf16 out (and the card says so); the data given with --data is recorded
    export_run(ema_run, tmp_path / "h.safetensors", dtype="bf16", standing_images=0)
    other = tmp_path / "scenes-copy"
    shutil.copytree(cli_world["scenes"], other)
    card = restat_model_file(tmp_path / "h.safetensors", tmp_path / "h2.safetensors", data_path=str(other))
    h2 = load_model_file(tmp_path / "h2.safetensors")
    assert card["dtype"] == "bf16" and h2.card["dtype"] == "bf16"
    weights = {v.dtype for k, v in h2.state_dict.items() if v.is_floating_point() and "running_" not in k}
    assert weights == {torch.bfloat16}
    assert card["standing_stats"]["data"] == str(other.resolve())
    assert f"of `{other.resolve()}`" in (tmp_path / "h2.md").read_text()


def _rc(main, argv) -> int:
    """Exit status of ``layout2im argv`` (usage errors leave through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)
