"""The device and precision policy: where to run and in which float precision, and why.

One rule for inference, training, the app and the benchmarks:

* **device**: ``auto`` (or None) is CUDA when available, else the CPU; ``cuda`` without CUDA, or a
  name that is not a device, is a :class:`~layout2im_core.errors.DeviceError` (one clear line).
* **precision** ``auto``: bf16 (autocast) where the device computes bf16 natively *and* a short
  timing of this model's own work (a render, or a training forward and backward) shows it faster
  than fp32, by at least ``MIN_SPEEDUP``; else fp32. The timing runs once per machine, model preset
  and kind of work and is cached (``cache_path()``), with the reason logged.
* Native bf16: CPUs with AVX512-BF16 or AMX (on AVX2-only CPUs bf16 is emulated, ~5x slower than
  fp32 on this project's build machines); CUDA devices with bf16 units (compute capability >= 8).
* An explicit ``bf16`` is honoured; where it is not native it warns once per device, naming the
  expected slowdown. An explicit ``fp32`` is always honoured.

Every decision is a :class:`PrecisionChoice` carrying its reason, which the status bar and
``layout2im info --device`` show.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from .errors import DeviceError, value_text

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.05  # bf16 must be at least this much faster: below it the gain is noise and fp32 is exact
CACHE_ENV = "LAYOUT2IM_CACHE_DIR"
CACHE_FILE = "precision.json"
_WARNED: set = set()  # devices already warned about an explicit bf16 without native support


# --- devices ------------------------------------------------------------------------------------------
def flush_subnormals() -> bool:
    """Turn on flush-to-zero and denormals-are-zero for float32 on the calling CPU thread
    (``torch.set_flush_denormal``), and so on every thread it starts afterwards: a new thread copies
    its creator's floating-point control register, so called first thing in a process it also covers
    torch's OpenMP workers and the app's render thread. Trained weights drive some activations and
    gradients below 1.2e-38 (float32 subnormals), which x86 CPUs compute many times slower; flushed,
    they are 0, invisible in an 8-bit image and below any training signal. The CLI and the benchmarks
    call it at start; ``Layout2ImModel`` calls it when it loads (so the app's render thread, which
    loads the model, has it before its first parallel op) and on each render's thread
    (docs/benchmarks.md, both 2026-12-06 sections).

    Returns:
        True where the CPU supports it (x86 with SSE3), else False (nothing changed).
    """
    return bool(torch.set_flush_denormal(True))


def available_devices() -> list:
    """Devices this machine can run on: ``["cpu"]`` plus ``"cuda"`` when present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def resolve_device(requested: Optional[str] = None, local_rank: int = 0) -> torch.device:
    """The device for a request.

    Args:
        requested: None or ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``
            (``cuda:<local_rank>``) or ``"cuda:<i>"``.
        local_rank: the process's GPU under ``torchrun``.

    Raises:
        DeviceError: CUDA asked for but not available (the message says so and suggests
            ``--device cpu``), a CUDA index beyond the machine's GPUs, or not a device name.
    """
    if requested in (None, "", "auto"):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    text = requested if isinstance(requested, str) else None
    if text is None or not (text in ("cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit())):
        raise DeviceError(f"{value_text(requested, 40)} is not a device: use auto, cpu, cuda or cuda:<index>")
    dev = torch.device(text)
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise DeviceError(f"device {requested!r} is not supported: use auto, cpu, cuda or cuda:<index>")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {requested!r} was asked for but CUDA is not available on this machine "
                          f"(torch {torch.__version__}); use --device cpu")
    index = local_rank if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device {requested!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


# --- native bf16 ----------------------------------------------------------------------------------------
def cpu_features() -> Dict[str, bool]:
    """CPU features that decide bf16 speed: ``avx2``, ``avx512``, ``avx512_bf16``, ``amx`` (bools)."""
    try:
        return {"avx2": bool(torch.cpu._is_avx2_supported()), "avx512": bool(torch.cpu._is_avx512_supported()),
                "avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
                "amx": bool(torch.cpu._is_amx_tile_supported())}
    except AttributeError:  # an older torch: read the flags
        flags = set()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        except OSError:
            pass
        return {"avx2": "avx2" in flags, "avx512": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
                "amx": "amx_bf16" in flags}


def native_bf16(device: torch.device) -> Tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and the hardware fact that says so.

    Returns:
        (native, why), e.g. ``(True, "AVX512-BF16")``, ``(False, "AVX2 only, no AVX512-BF16/AMX")``,
        ``(True, "NVIDIA H200, compute capability 9.0")``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:
            native = major >= 8
        return native, f"{name}, compute capability {major}.{minor}"
    f = cpu_features()
    if f["amx"]:
        return True, "AMX"
    if f["avx512_bf16"]:
        return True, "AVX512-BF16"
    if f["avx512"]:
        return False, "AVX-512 without BF16 instructions"
    return False, "AVX2 only, no AVX512-BF16/AMX" if f["avx2"] else "no AVX2"


def expected_bf16_slowdown(device, why: str = "") -> str:
    """What emulated bf16 costs on ``device`` (a phrase for messages); ``why`` is ``native_bf16``'s
    description of the hardware (asked for when not given)."""
    if torch.device(device).type == "cuda":
        return "slower than fp32 (no bf16 units)"
    why = why or native_bf16(device)[1]
    if why.startswith("AVX-512"):
        return "slower than fp32 (no bf16 instructions: oneDNN converts every value)"
    return "about 5x slower than fp32 (measured on this project's AVX2 machines)"


# --- decisions ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionChoice:
    """A precision decision and why.

    Attributes:
        device: e.g. ``"cpu"``, ``"cuda:0"``.
        precision: ``"fp32"`` or ``"bf16"``.
        requested: ``"auto"``, ``"fp32"`` or ``"bf16"``.
        reason: one line for people (status bar tooltip, ``info --device``, logs).
        native_bf16: the device computes bf16 natively.
        source: ``"requested"``, ``"no native bf16"``, ``"measured"``, ``"cached"`` or ``"not measured"``.
        fp32_ms, bf16_ms: the timing behind an ``auto`` decision (ms per call of the probe), if any.
        workload: what was timed, e.g. ``"render:paper"`` or ``"train:isla"``.
    """

    device: str
    precision: str
    requested: str
    reason: str
    native_bf16: bool
    source: str
    fp32_ms: Optional[float] = None
    bf16_ms: Optional[float] = None
    workload: str = ""

    @property
    def label(self) -> str:
        """Short form for a status bar: ``"CPU · bf16"``."""
        return f"{self.device.split(':')[0].upper()} · {self.precision}"

    def to_dict(self) -> dict:
        return asdict(self)


def decide(native: bool, why: str, fp32_ms: float, bf16_ms: float, workload: str = "",
           min_speedup: float = MIN_SPEEDUP) -> Tuple[str, str]:
    """The ``auto`` rule on measured timings: bf16 iff native and ``fp32_ms / bf16_ms >= min_speedup``.

    Args:
        native, why: from :func:`native_bf16`.
        fp32_ms, bf16_ms: ms per call of the same work in each precision (> 0).
        workload: named in the reason, e.g. ``"render:paper"``.

    Returns:
        (precision, reason).
    """
    what = f" for {describe_workload(workload)}" if workload else ""
    timing = f"{bf16_ms:.1f} ms bf16 vs {fp32_ms:.1f} ms fp32"
    if not native:
        return "fp32", f"fp32: no native bf16 ({why})"
    speedup = fp32_ms / bf16_ms if bf16_ms > 0 else 0.0
    if speedup >= min_speedup:
        return "bf16", f"bf16: native ({why}) and {speedup:.2f}x faster{what} here ({timing})"
    return "fp32", f"fp32: bf16 is native ({why}) but not faster{what} here ({timing})"


def describe_workload(workload: str) -> str:
    """``"render:paper"`` -> ``"paper renders"``, ``"train:isla"`` -> ``"isla training steps"``."""
    kind, _, name = workload.partition(":")
    return {"render": f"{name} renders", "train": f"{name} training steps"}.get(kind, workload)


def choose_precision(requested: str, device, workload: str = "",
                     timings: Optional[Callable[[], Tuple[float, float]]] = None,
                     native: Optional[Tuple[bool, str]] = None, use_cache: bool = True) -> PrecisionChoice:
    """Apply the policy (module docstring) to a request.

    Args:
        requested: ``"auto"``, ``"fp32"`` or ``"bf16"``.
        device: a resolved device (``resolve_device``).
        workload: what ``timings`` measures, e.g. ``"render:paper"``; part of the cache key.
        timings: returns (fp32_ms, bf16_ms) of this work (e.g. ``time_alternating``); called only for
            ``auto`` on a native device without a cached answer. None: decide without measuring
            (bf16 where native; source ``"not measured"``).
        native: (native, why) instead of asking the hardware (tests).
        use_cache: read and write the per-machine cache (``cache_path()``).

    Returns:
        PrecisionChoice (the reason is also logged at INFO for ``auto``).

    Raises:
        ValueError: ``requested`` is not one of ``PRECISIONS``.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, not {requested!r}")
    device = torch.device(device)
    has_native, why = native if native is not None else native_bf16(device)
    base: Dict[str, Any] = dict(device=str(device), requested=requested, native_bf16=has_native, workload=workload)
    if requested == "fp32":
        return PrecisionChoice(precision="fp32", reason="fp32: requested", source="requested", **base)
    if requested == "bf16":
        if not has_native:
            warn_emulated_bf16(device, why)
            return PrecisionChoice(precision="bf16", source="requested", reason=(
                f"bf16: requested, but emulated ({why}): expect it {expected_bf16_slowdown(device, why)}"), **base)
        return PrecisionChoice(precision="bf16", reason=f"bf16: requested (native: {why})", source="requested", **base)
    if not has_native:
        return PrecisionChoice(precision="fp32", reason=(f"fp32: no native bf16 ({why}); bf16 would be "
                                                         f"{expected_bf16_slowdown(device, why)}"),
                               source="no native bf16", **base)
    key = cache_key(device, workload)
    cached = read_cache().get(key) if use_cache and workload else None
    if cached:
        fp32_ms, bf16_ms, source = float(cached["fp32_ms"]), float(cached["bf16_ms"]), "cached"
    elif timings is not None:
        fp32_ms, bf16_ms = timings()
        source = "measured"
        if use_cache and workload:
            write_cache(key, {"fp32_ms": round(fp32_ms, 3), "bf16_ms": round(bf16_ms, 3),
                              "date": time.strftime("%Y-%m-%d %H:%M")})
    else:
        return PrecisionChoice(precision="bf16", reason=f"bf16: native ({why}); not measured",
                               source="not measured", **base)
    precision, reason = decide(has_native, why, fp32_ms, bf16_ms, workload)
    if source == "cached":
        reason += f"; measured earlier ({cache_path()})"
    log.info("precision %s on %s (%s)", precision, device, reason)
    return PrecisionChoice(precision=precision, reason=reason, source=source, fp32_ms=fp32_ms, bf16_ms=bf16_ms,
                           **base)


def warn_emulated_bf16(device, why: str = "") -> None:
    """Log once per device (per process) that an explicit bf16 runs emulated, and what that costs."""
    device = torch.device(device)
    if str(device) in _WARNED:
        return
    _WARNED.add(str(device))
    why = why or native_bf16(device)[1]
    log.warning("bf16 requested but %s has no native bf16 (%s): it is emulated, expect it %s; "
                "consider --precision fp32 or auto", device, why, expected_bf16_slowdown(device, why))


# --- timing ------------------------------------------------------------------------------------------
def time_alternating(run: Callable[[str], None], rounds: int = 3, budget_s: float = 6.0,
                     clock: Callable[[], float] = time.perf_counter) -> Tuple[float, float]:
    """Median ms per call of ``run("fp32")`` and ``run("bf16")``, timed alternately (so a machine
    whose speed drifts, shared with other work, treats both alike) after one warm-up call of each.

    Args:
        run: does the work once in the given precision.
        rounds: timed calls of each (fewer when ``budget_s`` seconds are spent; at least one).
        clock: seconds (tests inject a fake one).

    Returns:
        (fp32_ms, bf16_ms).
    """
    run("fp32")
    run("bf16")
    times: Dict[str, list] = {"fp32": [], "bf16": []}
    start = clock()
    for r in range(max(1, rounds)):
        for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            t0 = clock()
            run(precision)
            times[precision].append((clock() - t0) * 1000.0)
        if clock() - start > budget_s:
            break
    return statistics.median(times["fp32"]), statistics.median(times["bf16"])


# --- the per-machine cache -------------------------------------------------------------------------------
def cache_path() -> Path:
    """``$LAYOUT2IM_CACHE_DIR/precision.json``, else ``$XDG_CACHE_HOME/layout2im/precision.json``, else
    ``~/.cache/layout2im/precision.json``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / CACHE_FILE
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "layout2im" / CACHE_FILE


def machine_key(device) -> str:
    """What the timing depends on besides the model: processor (or GPU), torch version, threads."""
    device = torch.device(device)
    if device.type == "cuda":
        hw = torch.cuda.get_device_name(device)
    else:
        hw = _cpu_model()
        hw += " " + ",".join(k for k, v in cpu_features().items() if v)
    return f"{hw} | torch {torch.__version__} | {device.type} | {torch.get_num_threads()} threads"


def cache_key(device, workload: str) -> str:
    return f"{machine_key(device)} | {workload}"


def read_cache() -> Dict[str, dict]:
    """The cached timings (an empty dict when there are none or the file is unreadable)."""
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_cache(key: str, entry: dict) -> None:
    """Add one entry (atomic replace); a cache that cannot be written is skipped with a debug log."""
    path = cache_path()
    data = read_cache()
    data[key] = entry
    try:
        from .atomic import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True), fsync=False)
    except OSError as e:
        log.debug("precision cache not written (%s): %s", path, e)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


@dataclass(frozen=True)
class DeviceReport:
    """What ``layout2im info --device`` prints: the device, its bf16 support, the CPU features that
    matter, and a precision choice for a model."""

    device: str
    devices: list
    cpu: str
    cpu_features: Dict[str, bool]
    native_bf16: bool
    native_bf16_why: str
    torch: str
    threads: int
    choice: Optional[dict] = None
    cache: str = field(default_factory=lambda: str(cache_path()))

    def to_dict(self) -> dict:
        return asdict(self)


def device_report(device, choice: Optional[PrecisionChoice] = None) -> DeviceReport:
    """A :class:`DeviceReport` for a resolved device (and a model's precision choice, if given)."""
    device = torch.device(device)
    native, why = native_bf16(device)
    return DeviceReport(str(device), available_devices(), _cpu_model(), cpu_features(), native, why,
                        torch.__version__, torch.get_num_threads(), choice.to_dict() if choice else None)
