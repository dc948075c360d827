"""The GPU check of issue 16, driven by ``benchmarks/gpu_check.sh``: everything a CUDA machine should
tell us, in one JSON file, within a time budget.

Sections (each recorded as it finishes, so a run cut short still leaves its figures):
  machine      torch, CUDA, GPU, native bf16, the precision policy's choice for each model
  pytest       the device-aware core tests (``tests/test_on_device.py``, ``tests/test_fast_paths.py``)
               with ``--device <device>``
  generate     ms per render: ``paper`` and the shipped models, fp32 and bf16, batch 1 (full render
               and edit of the first object) and batch 64 (``generate_batch``, 8 objects each)
  train_step   s per training iteration, bf16 (and fp32), ``paper`` and the shipped preset, batch 8 x 8
  ddp          a 2-process NCCL DistributedDataParallel smoke run on one GPU, if NCCL allows two ranks
               on one device (gloo on CPU)

    PYTHONPATH=. python benchmarks/gpu_check.py --device cuda --out OUT/gpu_check.json [--budget-s 420]
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_check.json   # the driver itself

Needs torch and numpy; safetensors, Pillow and pytest where the sections use them (a missing one is
recorded as that section's error; the others still run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SHIPPED_PRESETS = ("isla", "lite-masks")  # the default model's preset now and its successor (issue 16)


class Deadline:
    def __init__(self, budget_s: float):
        self.end = time.monotonic() + budget_s

    def left(self) -> float:
        return self.end - time.monotonic()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats: int, warmup: int = 2) -> dict:
    """Median and min ms per call of ``fn`` (synchronised on CUDA)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats}


# --- sections ------------------------------------------------------------------------------------------
def machine(device: torch.device) -> dict:
    from layout2im_core import precision as policy

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(), "device": str(device), "cpu": policy._cpu_model(),
            "cpu_features": policy.cpu_features(), "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    native, why = policy.native_bf16(device)
    info.update(native_bf16=native, native_bf16_why=why)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version())
    for mod in ("numpy", "safetensors", "PIL", "pytest"):
        try:
            __import__(mod)
            info[f"has_{mod}"] = True
        except ImportError:
            info[f"has_{mod}"] = False
    return info


def run_pytest(device: torch.device, deadline: Deadline, out_dir: Path) -> dict:
    files = ["tests/test_on_device.py", "tests/test_fast_paths.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--device", str(device), *files]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=max(30.0, min(180.0, deadline.left() - 200)))
    except subprocess.TimeoutExpired as e:
        return {"error": "timed out", "output_tail": (e.stdout or "")[-3000:] if isinstance(e.stdout, str) else ""}
    (out_dir / "pytest.txt").write_text(p.stdout + p.stderr)
    lines = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    return {"returncode": p.returncode, "summary": lines[-1] if lines else "", "seconds": time.monotonic() - t0,
            "command": " ".join(cmd[1:]), "output_tail": "\n".join(lines[-25:])}


def _layout(model, n, seed):
    import numpy as np

    from layout2im_core.types import LayoutSpec, ObjectSpec

    rng = np.random.default_rng(seed)
    objs = []
    for i in range(n):
        x0, y0 = rng.uniform(0, 0.5, 2)
        objs.append(ObjectSpec(model.categories[(7 * i + seed) % len(model.categories)], (x0, y0, x0 + 0.4, y0 + 0.4),
                               tuple(model.sample_z(1, seed * 100 + i)[0])))
    return LayoutSpec(tuple(objs))


def _models(quick: bool):
    """(label, loader) of the models to time: paper (random weights), the shipped default model file
    and the shipped presets (random weights)."""
    from layout2im_core.inference import Layout2ImModel, default_model_path

    out = [("paper", lambda dev: Layout2ImModel.random("paper", device=dev, precision="fp32"))]
    if quick:
        out = [("tiny", lambda dev: Layout2ImModel.random("tiny", device=dev, precision="fp32"))]
    if default_model_path().is_file():
        out.append((f"default:{default_model_path().stem}",
                    lambda dev: Layout2ImModel.load(default_model_path(), device=dev, precision="fp32")))
    for preset in SHIPPED_PRESETS[: 1 if quick else None]:
        out.append((preset, lambda dev, p=preset: Layout2ImModel.random(p, device=dev, precision="fp32")))
    return out


def time_generate(device: torch.device, deadline: Deadline, quick: bool, record) -> dict:
    from layout2im_core.types import LayoutSpec

    res = {}
    repeats, big = (3, 8) if quick else (20, 64)
    for label, load in _models(quick):
        if deadline.left() < 150:
            res[label] = {"skipped": "time budget"}
            continue
        model = load(str(device))
        entry = {"preset": model.preset}
        auto = policy_choice(model)
        entry["policy_choice"] = auto
        lay = _layout(model, 8, 0)
        batch = [_layout(model, 8, s) for s in range(big)]
        for precision in ("fp32", "bf16"):
            model.set_precision(precision)
            r = {"full_1": timed(lambda: model.generate(lay, use_cache=False), device, repeats)}
            model.clear_cache()
            model.generate(lay)
            k = {"v": 0}

            def edit_first():
                k["v"] += 1
                objs = list(lay.objects)
                objs[0] = objs[0].with_z(tuple(float(v) + 0.01 * k["v"] for v in objs[0].z))
                model.generate(LayoutSpec(tuple(objs)))

            r["edit_first_1"] = timed(edit_first, device, repeats)
            r[f"batch_{big}"] = timed(lambda: model.generate_batch(batch), device, max(3, repeats // 4), warmup=1)
            r[f"batch_{big}"]["ms_per_image"] = r[f"batch_{big}"]["median_ms"] / big
            entry[precision] = r
        res[label] = entry
        record(res)
        model = None  # free it before the next one loads (the timing closures share this name)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return res


def policy_choice(model) -> dict:
    """The policy's pick for a loaded model (measured on this device, not cached)."""
    from layout2im_core import precision as policy

    c = policy.choose_precision("auto", model._dev, model._workload(),
                                timings=lambda: policy.time_alternating(model._render_probe()), use_cache=False)
    return c.to_dict()


def time_train_step(device: torch.device, deadline: Deadline, quick: bool, record) -> dict:
    from layout2im_core.config import LossWeights, model_preset
    from layout2im_core.training.step import Networks, Optimizers, autocast_context, train_step

    res = {}
    presets = ["tiny"] if quick else ["paper", SHIPPED_PRESETS[0]]
    b, o, iters = (2, 3, 2) if quick else (8, 8, 5)
    for preset in presets:
        for precision in ("bf16", "fp32"):
            key = f"{preset}/{precision}"
            if deadline.left() < 90:
                res[key] = {"skipped": "time budget"}
                continue
            torch.manual_seed(0)
            cl = device.type == "cpu"
            nets = Networks.build(model_preset(preset, 184), device, cl)
            opts = Optimizers.build(nets, 1e-4, (0.5, 0.999))
            g = torch.Generator().manual_seed(0)
            imgs = torch.rand(b, 3, 64, 64, generator=g).to(device)
            objs = torch.randint(1, 184, (b, o), generator=g).to(device)
            xy = torch.rand(b, o, 2, generator=g) * 0.6
            bboxes = torch.cat([xy, xy + 0.3], -1).to(device)
            mask = torch.ones(b, o, dtype=torch.bool, device=device)
            ac = autocast_context(device, precision)
            step = {"i": 0}

            def one():
                step["i"] += 1
                train_step(nets, opts, imgs, objs, bboxes, mask, LossWeights(), ac, step=step["i"], channels_last=cl)

            r = timed(one, device, iters, warmup=1)
            res[key] = {"s_per_iter": r["median_ms"] / 1000, "s_min": r["min_ms"] / 1000, "iters": iters,
                        "batch": f"{b}x{o}"}
            record(res)
            nets = opts = None  # free them before the next run (the closure shares these names)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return res


_DDP_WORKER = r'''
import os, sys, torch, torch.distributed as dist
sys.path.insert(0, os.environ["L2I_ROOT"])
from layout2im_core.config import model_preset
from layout2im_core.models.generator import Generator
from torch.nn.parallel import DistributedDataParallel as DDP
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dev = torch.device(os.environ["L2I_DEVICE"])
backend = "nccl" if dev.type == "cuda" else "gloo"
if dev.type == "cuda":
    torch.cuda.set_device(dev)
dist.init_process_group(backend, rank=rank, world_size=world)
torch.manual_seed(0)
G = Generator(model_preset("tiny", 12)).to(dev)
ddp = DDP(G, device_ids=[dev.index] if dev.type == "cuda" else None)
opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
g = torch.Generator().manual_seed(rank)  # different data per rank
for _ in range(3):
    objs = torch.randint(1, 12, (2, 3), generator=g).to(dev)
    xy = torch.rand(2, 3, 2, generator=g) * 0.5
    bboxes = torch.cat([xy, xy + 0.3], -1).to(dev)
    mask = torch.ones(2, 3, dtype=torch.bool, device=dev)
    z = torch.randn(6, 8, generator=g).to(dev)
    imgs = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1).to(dev)
    out = ddp(imgs, objs, bboxes, mask, z)
    loss = out.img_rec.square().mean() + out.img_rand.square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
check = torch.stack([p.detach().double().sum() for p in G.parameters()]).sum().reshape(1)
got = [torch.zeros_like(check) for _ in range(world)]
dist.all_gather(got, check)
if rank == 0:
    print("DDP-OK" if all(torch.equal(got[0], t) for t in got) else "DDP-MISMATCH", backend, float(check))
dist.destroy_process_group()
'''


def ddp_smoke(device: torch.device, deadline: Deadline, out_dir: Path) -> dict:
    """Two processes on one device (``device``): NCCL on CUDA, gloo on CPU; equal weights after 3
    steps on different data means the gradients were all-reduced."""
    script = out_dir / "ddp_worker.py"
    script.write_text(_DDP_WORKER)
    env = dict(os.environ, L2I_ROOT=str(ROOT), L2I_DEVICE=str(device if device.type == "cpu" else "cuda:0"),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + os.getpid() % 1000), WORLD_SIZE="2",
               OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(script)], env=dict(env, RANK=str(r), LOCAL_RANK="0"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    outs, t0 = [], time.monotonic()
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(20.0, min(120.0, deadline.left() - 15)))[0])
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        return {"ok": False, "error": "timed out (NCCL may not allow two ranks on one GPU)"}
    text = "\n".join(outs)
    ok = all(p.returncode == 0 for p in procs) and "DDP-OK" in text
    return {"ok": ok, "returncodes": [p.returncode for p in procs], "seconds": time.monotonic() - t0,
            "output_tail": text[-2500:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (tests the driver itself)")
    ap.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop starting sections after this many seconds")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (for --device cpu)")
    ap.add_argument("--sections", default="pytest,generate,train_step,ddp")
    args = ap.parse_args(argv)
    from layout2im_core.precision import resolve_device

    device = resolve_device(args.device)
    deadline = Deadline(args.budget_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"check": "issue 16 GPU check", "argv": sys.argv[1:], "machine": machine(device), "sections": {}}

    def write():
        report["elapsed_s"] = round(args.budget_s - deadline.left(), 1)
        args.out.write_text(json.dumps(report, indent=1, default=str))

    write()
    runners = {
        "pytest": lambda rec: run_pytest(device, deadline, args.out.parent),
        "generate": lambda rec: time_generate(device, deadline, args.quick, rec),
        "train_step": lambda rec: time_train_step(device, deadline, args.quick, rec),
        "ddp": lambda rec: ddp_smoke(device, deadline, args.out.parent),
    }
    for name in args.sections.split(","):
        if deadline.left() < 20:
            report["sections"][name] = {"skipped": "time budget"}
            continue
        t0 = time.monotonic()

        def record(partial, name=name):
            report["sections"][name] = {"partial": True, **partial}
            write()
        try:
            report["sections"][name] = runners[name](record)
        except Exception as e:  # noqa: BLE001 - one failing section must not lose the others
            report["sections"][name] = {"error": f"{type(e).__name__}: {e}",
                                        "traceback": traceback.format_exc()[-3000:]}
        report["sections"][name]["section_s"] = round(time.monotonic() - t0, 1)
        print(f"[gpu_check] {name}: {time.monotonic() - t0:.0f} s", flush=True)
        write()
    print(f"[gpu_check] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
