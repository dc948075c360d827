"""Import an official Layout2Im generator checkpoint (github.com/zhaobozb/layout2im, spec Appendix A).

The official files are plain ``state_dict``s of ``Generator`` saved by PyTorch 1.0 in the legacy
(non-zip) format, possibly from a GPU. They are read with ``torch.load(weights_only=True,
map_location="cpu")``: data only, no code runs. Our module names equal the official ones, so the
conversion checks every key and shape against the ``paper`` preset and sets ``legacy_numerics``
(1x1 conv with padding 1, ImageNet-normalised output without tanh, ``align_corners=True`` crops).
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Union

import torch

from . import model_file_checks as checks
from .checkpoint import ModelFile
from .config import ModelConfig, model_preset, preset_name
from .errors import ModelFileError, clip, exception_reason, value_text
from .input_files import InputFileError, check_regular_file
from .vocab import Vocabulary, read_vocabulary

if TYPE_CHECKING:
    from .inference import Layout2ImModel

MAX_VOCAB_BYTES = 64 * 2 ** 20


def load_vocab_arg(vocab: Union[str, Path]) -> Vocabulary:
    """``"coco"`` / ``"vg"`` (built in) or a path to a sg2im-style ``vocab.json``.

    Raises:
        ModelFileError: missing, not a regular file, too large, not JSON, nested too deeply or
            malformed vocabulary file.
    """
    if str(vocab) in ("coco", "vg"):
        return Vocabulary.builtin(str(vocab))
    return read_vocabulary(vocab, MAX_VOCAB_BYTES, ModelFileError)


def config_from_official(sd, num_classes: int) -> ModelConfig:
    """The ModelConfig (legacy numerics) whose widths the official-layout state dict has. For the
    released checkpoints this is exactly the ``paper`` preset.

    Raises:
        ModelFileError: a key needed to read a width is missing.
    """
    try:
        ce = [sd[f"crop_encoder.{k}.weight"].shape[0] for k in ("c1", "c2", "c3", "c4", "conv5")]
        le = [sd[f"layout_encoder.c{i}.weight"].shape[0] for i in range(1, 5)]
        emb = sd["layout_encoder.embedding.weight"].shape[1]
        z = sd["crop_encoder.fc_mu.weight"].shape[0]
        hidden: List[int] = []
        while f"layout_encoder.clstm.cell_list.{len(hidden)}.conv.weight" in sd:
            hidden.append(sd[f"layout_encoder.clstm.cell_list.{len(hidden)}.conv.weight"].shape[0] // 4)
        kernel = sd["layout_encoder.clstm.cell_list.0.conv.weight"].shape[-1]
        res = len({k.split(".")[2] for k in sd if k.startswith("layout_encoder.residual.")})
        dec = [sd["decoder.c0.weight"].shape[0]] + [sd[f"decoder.dc{i}.weight"].shape[1] for i in (1, 2, 3)]
    except KeyError as e:
        raise ModelFileError(f"not an official Layout2Im generator state dict: missing {clip(str(e), 80)}") from None
    except IndexError:
        raise ModelFileError("not an official Layout2Im generator state dict: a weight has too few "
                             "dimensions") from None
    paper = model_preset("paper", num_classes)
    try:
        return ModelConfig(num_classes=num_classes, embedding_dim=emb, z_dim=z, crop_encoder_widths=tuple(ce),
                           layout_widths=tuple(le), clstm_hidden=tuple(hidden), clstm_kernel=kernel,
                           residual_blocks=res, decoder_widths=tuple(dec), d_img_widths=paper.d_img_widths,
                           d_obj_widths=paper.d_obj_widths, max_objects=16, legacy_numerics=True)
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"not an official Layout2Im generator: its widths make no valid config "
                             f"({clip(str(e), 120)})") from None


def convert_official(path, vocab: Union[str, Path] = "coco", name: str = "") -> ModelFile:
    """Read an official generator state dict and return it as our ModelFile.

    Raises:
        ModelFileError: unreadable file, a file that is not a plain state dict (e.g. one that would
            need code to load), missing/unexpected keys, shapes that do not fit the paper
            architecture for the vocabulary's size.
    """
    path = Path(path)
    vocabulary = load_vocab_arg(vocab)
    try:
        st = check_regular_file(path, "checkpoint")  # a FIFO would hang torch.load
    except InputFileError as e:
        raise ModelFileError(str(e)) from None
    if st.st_size > checks.MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{path.name} is too large for a generator checkpoint ({st.st_size >> 20} MiB; "
                             f"the limit is {checks.MAX_MODEL_FILE_BYTES >> 20} MiB)")
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"no such checkpoint: {path}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, struct.error, TypeError,
            KeyError, AttributeError, IndexError) as e:
        raise ModelFileError(f"{path.name} is not a loadable Layout2Im state dict ({exception_reason(e)})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelFileError(f"{path.name} does not hold a generator state dict")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    emb = sd.get("layout_encoder.embedding.weight")
    if emb is None:
        raise ModelFileError(f"{path.name} is not a Layout2Im generator (no layout_encoder.embedding.weight)")
    if emb.shape[0] != len(vocabulary):
        raise ModelFileError(f"{path.name} has {emb.shape[0]} categories but the vocabulary {vocab} has "
                             f"{len(vocabulary)}: pick the vocabulary the model was trained with")
    cfg = config_from_official(sd, len(vocabulary))
    # widths come from the file's shapes: refuse absurd ones, then compare with a generator built on
    # the meta device (allocates nothing), so a small file claiming huge widths allocates nothing
    checks.parse_config(cfg.to_dict(), path.name)
    ref = checks.expected_state(cfg, path.name)
    missing = sorted(set(ref) - set(sd))
    unexpected = sorted(set(sd) - set(ref))
    if missing or unexpected:
        raise ModelFileError(f"{path.name}: keys do not match the official generator "
                             f"(missing {value_text(missing[:5])}{'...' if len(missing) > 5 else ''}, "
                             f"unexpected {value_text(unexpected[:5])}{'...' if len(unexpected) > 5 else ''})")
    bad = [f"{k} {tuple(sd[k].shape)} != {shape}" for k, (shape, _) in ref.items() if tuple(sd[k].shape) != shape]
    if bad:
        raise ModelFileError(f"{path.name}: shapes do not fit the paper architecture: {clip(str(bad[:3]), 200)}")
    nonfinite = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if nonfinite:
        raise ModelFileError(f"{path.name}: weight {clip(nonfinite[0], 60)} holds NaN or infinite values")
    sd = {k: v.float() if v.is_floating_point() else v.long() for k, v in sd.items()}
    card = {"source": f"official Layout2Im checkpoint {path.name}", "preset": preset_name(cfg), "legacy_numerics": True,
            "trained_max_objects": 8 if str(vocab) != "vg" else 9}
    return ModelFile(cfg, vocabulary, sd, name=name or path.stem, card=card)


def import_official(path, vocab: str = "coco", device: Optional[str] = None) -> "Layout2ImModel":
    """Load an official Layout2Im generator checkpoint (``netG_coco.pkl`` etc.) as a model.

    ``vocab``: ``"coco"``, ``"vg"`` or a path to a ``vocab.json``. Raises ModelFileError."""
    from .inference import Layout2ImModel

    return Layout2ImModel(convert_official(path, vocab), device=device)
