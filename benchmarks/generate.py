"""Benchmark of ``Layout2ImModel.generate``: ms per render, batch 1, 1-8 objects: the full render and
single-object edits (fast edit path) of the last object and of the first one (the worst case of a
slider drag: every object is re-fused), beside the FLOP-bound time (model FLOPs / this CPU's
measured matmul rate).

With ``--baseline CHECKOUT`` the same model (same weights) is also run by another revision's code
(e.g. ``git worktree add /tmp/main16 0c8c566``), alternating call by call in this process, and each
row gets the baseline's time and the speed-up; fp32 rows also give the largest difference of the two
images (values in [0, 1]). Precision ``auto`` lets each side apply its own policy. With
``--baseline-model FILE`` the baseline side renders another model file of the same architecture
instead (in ``--baseline``'s code, else ours), alternating the same way: do trained weights render
faster or slower than others (subnormals once made them slower)?

Targets (issue #16, ``paper``, 8 objects, against the branch's starting point in the same run): fp32
full render >= 1.3x faster, edit of the first object >= 1.3x faster; the shipped models (``isla``,
``lite-masks``) no slower. Issue #2's absolute targets (full <= 30 ms, edit <= 12 ms) are printed too.

    python benchmarks/generate.py [--preset paper[,isla,...]] [--model FILE] [--objects 1,2,4,8]
                                  [--precisions fp32,bf16,auto] [--repeats 15] [--threads N]
                                  [--baseline CHECKOUT] [--baseline-model FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _cpu_options import add_cpu_options, apply_cpu_options  # noqa: E402

from layout2im_core import inference as our_inference  # noqa: E402
from layout2im_core import types as our_types  # noqa: E402
from layout2im_core.inference import Layout2ImModel  # noqa: E402
from layout2im_core.info import generate_flops  # noqa: E402
from layout2im_core.precision import cpu_features, native_bf16  # noqa: E402

TARGET_FULL_MS = 30.0  # issue #2
TARGET_EDIT_MS = 12.0
TARGET_SPEEDUP = 1.3  # issue #16, paper fp32, against the baseline


def matmul_gflops(dtype, n=2048, repeats=5) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        t.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(t) / 1e9


def make_layout(model, n, seed=0, types=our_types):
    """``n`` objects of the model's first categories, 0.4 x 0.4 boxes, fixed z (LayoutSpec of ``types``)."""
    rng = np.random.default_rng(seed)
    cats = model.categories
    objs = []
    for i in range(n):
        x0, y0 = rng.uniform(0, 0.5, 2)
        objs.append(types.ObjectSpec(cats[i % len(cats)], (x0, y0, x0 + 0.4, y0 + 0.4), tuple(model.sample_z(1, i)[0])))
    return types.LayoutSpec(tuple(objs))


class Side:
    """One implementation under test: a model and the ``types`` module its layouts must come from."""

    def __init__(self, name, model, types):
        self.name, self.model, self.types = name, model, types

    def calls(self, n):
        """Three callables (full render, edit of the last object, edit of the first), each a fresh
        change per call, so every edit call does real work."""
        m, t = self.model, self.types
        lay = make_layout(m, n, types=t)
        k = {"v": 0}

        def edit(i):
            k["v"] += 1
            objs = list(lay.objects)
            objs[i] = objs[i].with_z(np.asarray(objs[i].z) + 0.01 * k["v"])
            m.generate(t.LayoutSpec(tuple(objs)))

        def full():
            m.generate(lay, use_cache=False)

        m.clear_cache()
        m.generate(lay)
        return {"full": full, "edit_last": lambda: edit(n - 1), "edit_first": lambda: edit(0)}, lay


def time_interleaved(sides, n, repeats):
    """Median ms per call for each side and kind, the sides alternating call by call (order flipped
    every repeat). Returns {side: {kind: ms}}."""
    fns = {s.name: s.calls(n)[0] for s in sides}
    times = {s.name: {k: [] for k in ("full", "edit_last", "edit_first")} for s in sides}
    for kind in ("full", "edit_last", "edit_first"):
        for s in sides:  # warm-up
            fns[s.name][kind]()
        for r in range(repeats):
            for s in (sides if r % 2 == 0 else sides[::-1]):
                t0 = time.perf_counter()
                fns[s.name][kind]()
                times[s.name][kind].append((time.perf_counter() - t0) * 1000)
    return {name: {k: statistics.median(v) for k, v in kinds.items()} for name, kinds in times.items()}


def max_image_diff(a: Side, b: Side, n) -> float:
    la, lb = make_layout(a.model, n, types=a.types), make_layout(b.model, n, types=b.types)
    return float(np.abs(a.model.render_float(la, use_cache=False) - b.model.render_float(lb, use_cache=False)).max())


def build_sides(args, preset, baseline):
    if args.model:
        ours = Layout2ImModel.load(args.model, device="cpu", precision="fp32")
    else:
        ours = Layout2ImModel.random(preset, device="cpu", precision="fp32")
    sides = [Side("ours", ours, our_types)]
    if args.baseline_model:  # other weights, run by the baseline checkout's code or by ours
        code = baseline or {"inference": our_inference, "types": our_types}
        base = code["inference"].Layout2ImModel.load(args.baseline_model, device="cpu", precision="fp32")
        sides.append(Side("baseline", base, code["types"]))
    elif baseline is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.safetensors"
            ours.save(path)  # the same weights for both
            base = baseline["inference"].Layout2ImModel.load(str(path), device="cpu", precision="fp32")
        sides.append(Side("baseline", base, baseline["types"]))
    return sides


def machine() -> dict:
    native, why = native_bf16(torch.device("cpu"))
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "features": cpu_features(), "native_bf16": native,
            "native_bf16_why": why, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "loadavg_1min": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper", help="preset or comma list (random weights, BN calibrated)")
    ap.add_argument("--model", default=None, help="a model file instead of a random-weight preset")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--objects", default="1,2,4,8")
    ap.add_argument("--precisions", default="fp32,bf16",
                    help="comma list of fp32, bf16, auto (each side's own policy); bf16 is emulated, slow, on "
                         "CPUs without AVX512-BF16/AMX")
    ap.add_argument("--baseline", default=None, help="a checkout of another revision to compare with")
    ap.add_argument("--baseline-model", default=None,
                    help="the baseline side renders this model file (other weights of the same architecture: "
                         "does training change the speed?), with --baseline's code or else ours")
    ap.add_argument("--json", default=None)
    add_cpu_options(ap)
    args = ap.parse_args(argv)
    apply_cpu_options(args)
    precisions = [p for p in args.precisions.split(",") if p]
    counts = [int(v) for v in args.objects.split(",")]
    baseline = None
    if args.baseline:
        from _baseline import baseline_module, revision

        baseline = {"inference": baseline_module(args.baseline, "inference"),
                    "types": baseline_module(args.baseline, "types"), "revision": revision(args.baseline)}
    info = machine()
    # only the precisions that can run: an emulated bf16 matmul of this size takes minutes
    wanted = {"fp32"} | ({"bf16"} if "bf16" in precisions or ("auto" in precisions and info["native_bf16"]) else set())
    rates = {p: matmul_gflops({"fp32": torch.float32, "bf16": torch.bfloat16}[p]) for p in sorted(wanted)}
    print(f"# {info['cpu']}, {info['cores']} cores, {info['threads']} threads, torch {info['torch']}, native bf16: "
          f"{info['native_bf16']} ({info['native_bf16_why']}), subnormals {args.subnormals}, load "
          f"{info['loadavg_1min']:.2f}; matmul 2048^2: "
          + ", ".join(f"{p} {r:.0f} GFLOP/s" for p, r in rates.items())
          + (f"; baseline {args.baseline} ({baseline['revision']})" if baseline else "")
          + (f"; baseline weights {args.baseline_model}" if args.baseline_model else ""))
    compare = baseline is not None or args.baseline_model is not None
    rows = []
    head = (f"{'preset':10} {'prec':5} {'objs':>4} {'full':>7} {'edit-last':>9} {'edit-first':>10} {'GFLOP':>6} "
            f"{'bound':>6}")
    print(head + ("  | baseline: full edit-last edit-first | speed-up: full edit-last edit-first | max diff"
                  if compare else ""))
    for preset in args.preset.split(","):
        sides = build_sides(args, preset, baseline)
        ours = sides[0].model
        for prec in precisions:
            for s in sides:
                s.model.set_precision(prec)
            used = {s.name: s.model.precision for s in sides}
            for n in counts:
                t = time_interleaved(sides, n, args.repeats)
                gf = generate_flops(ours.G, n) / 1e9
                row = dict(preset=ours.preset, precision=prec, precision_used=used["ours"], objects=n,
                           full_ms=t["ours"]["full"], edit_last_ms=t["ours"]["edit_last"],
                           edit_first_ms=t["ours"]["edit_first"], gflops=gf,
                           flop_bound_ms=gf / rates[used["ours"]] * 1000)
                line = (f"{row['preset']:10} {used['ours']:5} {n:4d} {row['full_ms']:7.1f} {row['edit_last_ms']:9.1f} "
                        f"{row['edit_first_ms']:10.1f} {gf:6.2f} {row['flop_bound_ms']:6.1f}")
                if compare:
                    b = t["baseline"]
                    row.update(baseline_precision=used["baseline"], baseline_full_ms=b["full"],
                               baseline_edit_last_ms=b["edit_last"], baseline_edit_first_ms=b["edit_first"],
                               speedup_full=b["full"] / row["full_ms"],
                               speedup_edit_last=b["edit_last"] / row["edit_last_ms"],
                               speedup_edit_first=b["edit_first"] / row["edit_first_ms"])
                    if used["ours"] == used["baseline"] == "fp32" and not args.baseline_model:  # same weights
                        row["max_abs_diff"] = max_image_diff(sides[0], sides[1], n)
                    line += (f"  | {used['baseline']:5} {b['full']:7.1f} {b['edit_last']:7.1f} "
                             f"{b['edit_first']:7.1f} | {row['speedup_full']:5.2f} {row['speedup_edit_last']:5.2f} "
                             f"{row['speedup_edit_first']:5.2f}"
                             + (f" | {row['max_abs_diff']:.1e}" if "max_abs_diff" in row else ""))
                rows.append(row)
                print(line, flush=True)
    summary = []
    for r in rows:
        if r["objects"] != max(counts):
            continue
        s = (f"{r['preset']} {r['precision_used']}, {r['objects']} objects: full {r['full_ms']:.1f} ms "
             f"(issue #2 target {TARGET_FULL_MS:.0f} ms, ratio {r['full_ms'] / TARGET_FULL_MS:.2f}), edit "
             f"{r['edit_last_ms']:.1f} ms (target {TARGET_EDIT_MS:.0f} ms, "
             f"ratio {r['edit_last_ms'] / TARGET_EDIT_MS:.2f})")
        if "speedup_full" in r:
            want = TARGET_SPEEDUP if r["preset"] == "paper" and r["precision"] == "fp32" else 1.0
            s += (f"; vs baseline: full {r['speedup_full']:.2f}x, edit-first {r['speedup_edit_first']:.2f}x, "
                  f"edit-last {r['speedup_edit_last']:.2f}x (target >= {want:.1f}x)")
        summary.append(s)
    print("\n" + "\n".join(summary))
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "baseline": args.baseline and {"path": args.baseline,
                                                                       "revision": baseline["revision"]},
                       "matmul_gflops": rates, "rows": rows,
                       "targets": {"full_ms": TARGET_FULL_MS, "edit_ms": TARGET_EDIT_MS, "speedup": TARGET_SPEEDUP}},
                      f, indent=2)


if __name__ == "__main__":
    main()
