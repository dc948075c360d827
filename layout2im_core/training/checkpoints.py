"""Training checkpoints: ``RUN/checkpoints/step-<8 digits>.pt``, written atomically (``atomic.atomic_write``:
temp file + fsync + rename), readable with ``torch.load(weights_only=True)`` (only tensors, dicts,
lists, tuples, numbers, strings and None inside: no code runs when loading), the last K kept.

Only finite states are written: :func:`check_finite_state` refuses weights holding NaN or inf (a NaN
gradient with finite losses would otherwise write one and call it the last good checkpoint), and
:func:`latest_checkpoint` (``--resume``, ``export``, ``directions``) skips, with a warning naming the
file and why, a newest checkpoint that is unreadable or not finite.

Contents (a dict):
    format "layout2im-train-checkpoint", format_version 1, step (iterations done),
    G, D_img, D_obj (state dicts), optimizers {G, D_img, D_obj} (Adam state dicts),
    rng {torch: uint8 tensor, cuda: [uint8 tensor per device], numpy: {...}, python: [...]},
    data {epoch, batch} (the resumable data position), train_config (TrainConfig.to_dict),
    model_config (ModelConfig.to_dict), vocabulary (names by id), wall_time_s, world_size.
"""

from __future__ import annotations

import io
import logging
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import Layout2ImError, ModelFileError, exception_reason
from ..input_files import InputFileError, check_regular_file

log = logging.getLogger(__name__)

FORMAT = "layout2im-train-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step-{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> List[Path]:
    """Checkpoint files of a run, oldest first (temp files of interrupted writes are ignored)."""
    d = checkpoint_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


# --- RNG states as plain data -------------------------------------------------------------------
def rng_state() -> Dict[str, Any]:
    """Global RNG states of torch (CPU, CUDA), numpy and Python, as weights_only-loadable data."""
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # the legacy form (the default)
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"kind": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": list(py_state[1]),
                   "gauss_next": py_state[2]},
    }
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`rng_state` (CUDA states only for devices that exist)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


# --- finiteness ------------------------------------------------------------------------------------
NETWORK_KEYS = ("G", "G_ema", "D_img", "D_obj")


class NonFiniteStateError(Layout2ImError):
    """The networks' weights hold NaN or inf (e.g. after a NaN gradient with finite losses), so no
    checkpoint is written; ``step`` is the iteration, ``names`` the offending tensors."""

    def __init__(self, step: int, names: List[str]):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        super().__init__(f"weights hold NaN or infinite values at step {step} ({shown}); no checkpoint was "
                         f"written for it and training stopped, the last good checkpoint is kept")
        self.step, self.names = step, list(names)


def non_finite_tensors(state: Dict[str, Any]) -> List[str]:
    """Names ``net.param`` of the floating tensors of the network state dicts in ``state`` (keys
    ``NETWORK_KEYS``: a checkpoint or a payload) that hold NaN or inf."""
    bad = []
    for net in NETWORK_KEYS:
        sd = state.get(net)
        if not isinstance(sd, dict):
            continue
        for name, t in sd.items():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad.append(f"{net}.{name}")
    return bad


def check_finite_state(step: int, state: Dict[str, Any]) -> None:
    """Raise NonFiniteStateError when a network's weights in ``state`` hold NaN or inf."""
    bad = non_finite_tensors(state)
    if bad:
        raise NonFiniteStateError(step, bad)


# --- save / load ----------------------------------------------------------------------------------
def save_checkpoint(run_dir: Path, step: int, payload: Dict[str, Any], keep_last: int) -> Path:
    """Write ``payload`` (plus format and step) as the checkpoint of ``step`` atomically, then delete
    all but the newest ``keep_last`` checkpoints. Returns the path.

    Raises:
        NonFiniteStateError: the payload's weights hold NaN or inf (nothing is written).
        OSError: the folder is not writable or the disk is full (the older checkpoints stay).
    """
    check_finite_state(step, payload)
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "step": int(step), **payload}, buf)
    atomic_write(path, buf.getbuffer())
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location="cpu", mmap: bool = False) -> Dict[str, Any]:
    """Read a training checkpoint with ``torch.load(weights_only=True)`` (``mmap``: map the tensors
    instead of reading them, for a cheap validity check).

    Raises:
        ModelFileError: missing, not a regular file, truncated or not a Layout2Im training checkpoint
            (the reason is one short line).
    """
    path = Path(path)
    try:
        check_regular_file(path, "training checkpoint")
    except InputFileError as e:
        raise ModelFileError(str(e)) from None
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise ModelFileError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # truncated zip, not a torch file, forbidden global
        raise ModelFileError(f"{path} is not a readable training checkpoint: {exception_reason(e)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a Layout2Im training checkpoint (no '{FORMAT}' format tag)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported training checkpoint version {ckpt.get('format_version')!r}")
    return ckpt


def latest_checkpoint(run_dir: Path, quiet: bool = False) -> Optional[Path]:
    """Newest checkpoint of a run that loads and whose weights are finite, or None. Newer files that
    are unreadable or hold NaN/inf weights are skipped with a warning naming the file and why
    (``quiet``: no warnings)."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            ckpt = load_checkpoint(path, mmap=True)
        except ModelFileError as e:
            if not quiet:
                log.warning("skipping checkpoint %s: %s", path.name, e)
            continue
        bad = non_finite_tensors(ckpt)
        del ckpt
        if bad:
            if not quiet:
                log.warning("skipping checkpoint %s: its weights hold NaN or infinite values (%s)", path.name,
                            ", ".join(bad[:3]))
            continue
        return path
    return None


def resolve_checkpoint(ckpt_or_run: Path) -> Path:
    """A checkpoint file, or the newest loadable checkpoint of a run directory.

    Raises:
        ModelFileError: the path does not exist, or the run holds no loadable checkpoint.
    """
    p = Path(ckpt_or_run)
    if p.is_file():
        return p
    if p.is_dir():
        found = latest_checkpoint(p)
        if found is None:
            raise ModelFileError(f"run directory {p} holds no loadable checkpoint in {checkpoint_dir(p)}")
        return found
    raise ModelFileError(f"{p} is neither a checkpoint file nor a run directory")


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory a checkpoint file lives in (``RUN/checkpoints/step-N.pt`` -> ``RUN``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def load_state_expanding(module: torch.nn.Module, state: Dict[str, torch.Tensor]) -> List[str]:
    """Load ``state`` into ``module`` whose tensors may be *wider* along one dimension (new input
    channels, e.g. ``decoder_layout`` on a model trained without it): the old values fill the leading
    slice and the rest is zero, so the wider network computes exactly what the old one did until it
    trains. Returns the names of the widened tensors.

    Raises:
        ModelFileError: a tensor is missing or extra, or its shape differs otherwise.
    """
    own = module.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise ModelFileError(f"cannot initialise from this checkpoint: missing {missing[:5]}, extra {extra[:5]}")
    widened, out = [], {}
    for name, new in own.items():
        old = state[name]
        if old.shape == new.shape:
            out[name] = old
            continue
        diff = [i for i, (a, b) in enumerate(zip(old.shape, new.shape)) if a != b]
        if old.dim() != new.dim() or len(diff) != 1 or old.shape[diff[0]] > new.shape[diff[0]]:
            raise ModelFileError(f"cannot initialise {name}: shape {tuple(old.shape)} -> {tuple(new.shape)}")
        grown = torch.zeros_like(new)
        grown.narrow(diff[0], 0, old.shape[diff[0]]).copy_(old)
        out[name] = grown
        widened.append(name)
    module.load_state_dict(out)
    return widened
