"""``decoder_layout`` (ours): the layout map, a decoder that needs it, and widening a trained model
into it with zeros so that it computes exactly what it did before."""

import dataclasses

import pytest
import torch

from layout2im_core.config import model_preset
from layout2im_core.errors import DataError, ModelFileError
from layout2im_core.models.decoder import Decoder
from layout2im_core.models.generator import Generator
from layout2im_core.models.layers import eval_mode
from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training.config import train_preset
from layout2im_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _layout(b=2, o=3, seed=0, k=6):
    g = torch.Generator().manual_seed(seed)
    objs = torch.randint(1, k, (b, o), generator=g)
    xy = torch.rand(b, o, 2, generator=g) * 0.5
    bboxes = torch.cat([xy, xy + 0.3 + torch.rand(b, o, 2, generator=g) * 0.2], -1).clamp(0, 1)
    mask = torch.ones(b, o, dtype=torch.bool)
    mask[1, 2] = False
    return objs, bboxes, mask


def test_layout_map_holds_the_topmost_objects_embedding():
    G = Generator(model_preset("tiny-masks", 6))
    le = G.layout_encoder
    objs = torch.tensor([[1, 2, 3]])
    bboxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 1.0, 1.0]]])
    mask = torch.tensor([[True, True, False]])  # the third (covering everything) is padding
    m = le.layout_map(objs, bboxes, mask)
    emb = le.embedding.weight.detach()
    assert m.shape == (1, 8, 64, 64)
    assert torch.allclose(m[0, :, 5, 5], emb[1])  # only object 1
    assert torch.allclose(m[0, :, 20, 20], emb[2])  # overlap: object 2 was drawn later
    assert torch.allclose(m[0, :, 40, 40], emb[2])
    assert torch.equal(m[0, :, 60, 60], torch.zeros(8))  # no box (padding ignored)
    assert torch.equal(m[0, :, 5, 40], torch.zeros(8))


def test_decoder_with_layout_needs_the_map():
    cfg = model_preset("tiny-masks", 6)
    dec = Decoder(cfg)
    h = torch.randn(2, cfg.clstm_hidden[-1], 8, 8)
    with pytest.raises(ValueError, match="layout_map"):
        dec(h)
    assert dec(h, torch.randn(2, cfg.embedding_dim, 64, 64)).shape == (2, 3, 64, 64)
    assert not Decoder(model_preset("tiny", 6)).uses_layout


def test_widening_a_trained_model_keeps_its_output_exactly():
    torch.manual_seed(0)
    old = Generator(model_preset("tiny", 6))
    objs, bboxes, mask = _layout()
    with torch.no_grad():  # non-trivial batch-norm statistics
        old(old.to_model_space(torch.rand(2, 3, 64, 64)), objs, bboxes, mask, torch.randn(int(mask.sum()), 8))
    new = Generator(model_preset("tiny-masks", 6))
    widened = ckpts.load_state_expanding(new, old.state_dict())
    assert sorted(widened) == sorted(f"decoder.{n}.weight" for n in ("c0", "dc1", "dc2", "dc3", "c4"))
    z = torch.randn(2, 3, 8)
    with eval_mode(old), eval_mode(new), torch.no_grad():
        a, b = old.generate(objs, bboxes, z, mask), new.generate(objs, bboxes, z, mask)
    assert torch.allclose(a, b, atol=1e-6)
    with torch.no_grad():  # and the new inputs do act once their weights move
        new.decoder.c4.weight[:, -8:].normal_()
    with eval_mode(new), torch.no_grad():
        assert (new.generate(objs, bboxes, z, mask) - a).abs().max() > 1e-3


def test_widening_refuses_other_shape_changes():
    with pytest.raises(ModelFileError, match="shape"):
        ckpts.load_state_expanding(Generator(model_preset("tiny", 6)), Generator(model_preset("tiny", 7)).state_dict())
    with pytest.raises(ModelFileError, match="missing"):
        ckpts.load_state_expanding(Generator(model_preset("tiny", 6)), {})


def _trainer(data, run_dir, **changes):
    ds = data(n=6)
    cfg = train_preset("tiny-test").replace(**changes)
    return Trainer(cfg, run_dir, dataset=ds, vocabulary=ds.vocabulary, progress=False, argv=["test"])


def test_a_new_run_starts_from_another_runs_weights(tmp_path, synthetic_layouts):
    first = _trainer(synthetic_layouts, tmp_path / "a").run()
    src = torch.load(first.checkpoint, weights_only=True)
    t = _trainer(synthetic_layouts, tmp_path / "b", model_preset="tiny-masks", init_from=str(first.checkpoint))
    assert t.step == 0 and t.model_cfg.decoder_layout
    old = Generator(dataclasses.replace(t.model_cfg, decoder_layout=False))
    old.load_state_dict(src["G"])
    objs, bboxes, mask = _layout(k=t.model_cfg.num_classes)
    z = torch.randn(2, 3, 8)
    with eval_mode(old), eval_mode(t.raw.G), torch.no_grad():
        assert torch.allclose(old.generate(objs, bboxes, z, mask), t.raw.G.generate(objs, bboxes, z, mask), atol=1e-6)
    assert t.run().status == "done"
    with pytest.raises(ModelFileError):
        _trainer(synthetic_layouts, tmp_path / "c", init_from=str(tmp_path / "nope.pt"))


def test_init_from_needs_the_same_vocabulary(tmp_path, synthetic_layouts):
    first = _trainer(synthetic_layouts, tmp_path / "a").run()
    ck = torch.load(first.checkpoint, weights_only=True)
    ck["vocabulary"] = list(ck["vocabulary"])[:-1] + ["other"]
    bad = tmp_path / "other.pt"
    torch.save(ck, bad)
    with pytest.raises(DataError, match="vocabulary"):
        _trainer(synthetic_layouts, tmp_path / "b", init_from=str(bad))


def test_a_new_run_starts_g_from_an_exported_model_file(tmp_path, synthetic_layouts):
    from layout2im_core.checkpoint import load_model_file
    from layout2im_core.training.export import export_run

    first = _trainer(synthetic_layouts, tmp_path / "a").run()
    src = torch.load(first.checkpoint, weights_only=True)
    export_run(first.checkpoint, tmp_path / "m.safetensors", name="m")
    mf = load_model_file(tmp_path / "m.safetensors")
    t = _trainer(synthetic_layouts, tmp_path / "b", init_from=str(tmp_path / "m.safetensors"), ema_decay=0.9)
    assert t.step == 0
    for name, v in mf.state_dict.items():  # G and its EMA copy start from the file (the exported EMA of G)
        assert torch.equal(t.raw.G.state_dict()[name], v.float()), name
        assert torch.equal(t.G_ema.state_dict()[name], v.float()), name
    fresh = _trainer(synthetic_layouts, tmp_path / "c")  # the file has no D: the same seed's fresh D
    for net in ("D_img", "D_obj"):
        mine, new = getattr(t.raw, net).state_dict(), getattr(fresh.raw, net).state_dict()
        assert all(torch.equal(mine[k], new[k]) for k in mine), net
        assert not all(torch.equal(mine[k], src[net][k]) for k in mine), net
    assert t.run().status == "done"


def test_init_from_a_model_file_needs_the_same_vocabulary(tmp_path, synthetic_layouts):
    import dataclasses as dc

    from layout2im_core.checkpoint import load_model_file, save_model_file
    from layout2im_core.training.export import export_run
    from layout2im_core.vocab import Vocabulary

    first = _trainer(synthetic_layouts, tmp_path / "a").run()
    export_run(first.checkpoint, tmp_path / "m.safetensors", name="m")
    mf = load_model_file(tmp_path / "m.safetensors")
    names = list(mf.vocabulary.names)
    other = Vocabulary(tuple(names[:-1] + ["other"]))
    save_model_file(tmp_path / "other.safetensors", dc.replace(mf, vocabulary=other))
    with pytest.raises(DataError, match="vocabulary"):
        _trainer(synthetic_layouts, tmp_path / "b", init_from=str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError):
        _trainer(synthetic_layouts, tmp_path / "c", init_from=str(tmp_path / "nope.safetensors"))
