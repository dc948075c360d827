"""Devices and multi-process training (``torchrun`` + DistributedDataParallel).

A process started by ``torchrun`` finds RANK / WORLD_SIZE / LOCAL_RANK in its environment; the
process group uses NCCL on CUDA and gloo on CPU. Without those variables the run is a single process.
Only rank 0 writes logs, samples and checkpoints; every rank reads its own shard of each epoch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import torch
import torch.distributed as dist

from .. import precision as _policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """DistInfo from torchrun's environment variables (single process when they are absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(requested: str, info: DistInfo = DistInfo()) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` -> ``cuda:<local_rank>``
    (``layout2im_core.precision.resolve_device``).

    Raises:
        DeviceError (a ValueError): CUDA requested but not available (message names the request).
    """
    return _policy.resolve_device(requested, info.local_rank)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA with bf16 units; CPUs with AVX512-BF16 or AMX).
    Elsewhere bf16 is emulated and several times slower than fp32 (``layout2im_core.precision``)."""
    return _policy.native_bf16(device)[0]


def resolve_precision(requested: str, device: torch.device, preset: Optional[str] = None, world_size: int = 1,
                      measure: bool = True) -> str:
    """The training precision by the policy of ``layout2im_core.precision``.

    ``auto``: bf16 where the device has native bf16 and, given ``preset``, a short timing of that
    preset's training forward + backward (``train_probe``, 4 images x 4 objects; cached
    per machine and preset) shows it faster; fp32 otherwise. Under DDP (``world_size`` > 1), or with
    ``measure=False`` and nothing cached, nothing is timed: bf16 where native (every rank must decide
    alike). An explicit ``bf16`` without native support is kept, with a warning naming the slowdown.
    The reason is logged.

    Returns:
        ``"fp32"`` or ``"bf16"``.
    """
    return choose_train_precision(requested, device, preset, world_size, measure).precision


def choose_train_precision(requested: str, device: torch.device, preset: Optional[str] = None,
                           world_size: int = 1, measure: bool = True) -> _policy.PrecisionChoice:
    """As ``resolve_precision``, returning the whole decision with its reason."""
    timings = None
    if preset and world_size == 1 and measure:
        def timings():
            return _policy.time_alternating(train_probe(preset, device), rounds=2, budget_s=20.0)
    workload = f"train:{preset}" if preset and world_size == 1 else ""
    return _policy.choose_precision(requested, device, workload, timings)


def train_probe(preset: str, device, batch: int = 4, objects: int = 4) -> Callable[[str], None]:
    """A function that runs one training-like pass of a preset in a given precision: G's training
    forward, both discriminators on its outputs, and the backward of their sum, on a fixed random
    batch (``batch`` images x ``objects`` objects). What the policy times for training; it leaves the
    global random state as it found it.

    Raises:
        KeyError: unknown preset.
    """
    from ..config import model_preset
    from ..models.discriminators import ImageDiscriminator, ObjectDiscriminator
    from ..models.generator import Generator

    device = torch.device(device)
    cfg = model_preset(preset, 184)
    fmt = torch.channels_last if device.type == "cpu" else torch.contiguous_format  # as the trainer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        nets = [n.to(device=device, memory_format=fmt) for n in
                (Generator(cfg), ImageDiscriminator(cfg), ObjectDiscriminator(cfg))]
        imgs = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
        objs = torch.randint(1, cfg.num_classes, (batch, objects), device=device)
        xy = torch.rand(batch, objects, 2, device=device) * 0.6
        bboxes = torch.cat([xy, xy + 0.3], -1)
        z = torch.randn(batch * objects, cfg.z_dim, device=device)
    mask = torch.ones(batch, objects, dtype=torch.bool, device=device)
    G, D_img, D_obj = nets

    def run(precision: str) -> None:
        with torch.random.fork_rng(devices=[]):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = G(imgs, objs, bboxes, mask, z)
                loss = (D_img(torch.cat([out.img_rec, out.img_rand])).float().sum()
                        + D_obj(torch.cat([out.crops_rec, out.crops_rand])).src.float().sum())
            loss.backward()
        for net in nets:
            net.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Join the job's process group (no-op for a single process)."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    log.info("process group: %s, rank %d of %d", backend, info.rank, info.world_size)


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(module: torch.nn.Module, device: torch.device, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` (the module itself for a single process)."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # Buffers (BN statistics, spectral-norm vectors) follow rank 0 at every forward.
    return DistributedDataParallel(module, device_ids=ids)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of ``t`` over ranks (``t`` itself for a single process)."""
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True if ``flag`` is True on any rank (every rank gets the same answer)."""
    if not info.enabled:
        return flag
    return bool(all_reduce_sum(torch.tensor([1.0 if flag else 0.0], device=device), info).item() > 0)


def gather_objects(obj: Any, info: DistInfo) -> List[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` for a single process)."""
    if not info.enabled:
        return [obj]
    out: List[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def hardware_info(device: torch.device) -> dict:
    """Plain description of this machine for model cards: CPU model (/proc/cpuinfo), cores, torch
    version and, for CUDA, the GPU name."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        import platform

        cpu = platform.processor() or cpu
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "device": str(device),
            "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
