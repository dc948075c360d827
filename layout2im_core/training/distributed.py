"""Devices and multi-process training (``torchrun`` + DistributedDataParallel).

A process started by ``torchrun`` finds RANK / WORLD_SIZE / LOCAL_RANK in its environment; the
process group uses NCCL on CUDA and gloo on CPU. Without those variables the run is a single process.
Only rank 0 writes logs, samples and checkpoints; every rank reads its own shard of each epoch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, List, Optional

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
    preset's training forward + backward (``precision.train_probe``, 4 images x 4 objects; cached
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
            return _policy.time_alternating(_policy.train_probe(preset, device), rounds=2, budget_s=20.0)
    workload = f"train:{preset}" if preset and world_size == 1 else ""
    return _policy.choose_precision(requested, device, workload, timings)


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
