"""Benchmark of ``Layout2ImModel.generate``: ms per render, batch 1, 1-8 objects, fp32 and bf16,
full render and single-object edit (fast edit path), beside the FLOP-bound time (model FLOPs / this
CPU's measured matmul rate). Targets (issue #2, ``paper`` preset, 8 objects, 2 cores): full render
<= 30 ms, single-object edit <= 12 ms.

    python benchmarks/generate.py [--preset paper] [--repeats 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from layout2im_core.inference import Layout2ImModel
from layout2im_core.info import generate_flops
from layout2im_core.types import LayoutSpec, ObjectSpec

TARGET_FULL_MS = 30.0
TARGET_EDIT_MS = 12.0


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


def make_layout(model, n, seed=0):
    rng = np.random.default_rng(seed)
    cats = model.categories
    objs = []
    for i in range(n):
        x0, y0 = rng.uniform(0, 0.5, 2)
        objs.append(ObjectSpec(cats[i % len(cats)], (x0, y0, x0 + 0.4, y0 + 0.4), tuple(model.sample_z(1, i)[0])))
    return LayoutSpec(tuple(objs))


def time_ms(fn, repeats) -> float:
    fn()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return statistics.median(t)


def bench(model, n, repeats):
    lay = make_layout(model, n)
    full = time_ms(lambda: model.generate(lay, use_cache=False), repeats)
    model.clear_cache()
    model.generate(lay)
    state = {"k": 0}

    def edit_last():  # a slider drag on the last object: new z each call
        state["k"] += 1
        objs = list(lay.objects)
        objs[-1] = objs[-1].with_z(np.asarray(objs[-1].z) + 0.01 * state["k"])
        model.generate(LayoutSpec(tuple(objs)))

    def edit_first():
        state["k"] += 1
        objs = list(lay.objects)
        objs[0] = objs[0].with_z(np.asarray(objs[0].z) + 0.01 * state["k"])
        model.generate(LayoutSpec(tuple(objs)))

    return full, time_ms(edit_last, repeats), time_ms(edit_first, repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--model", default=None, help="a model file instead of a random-weight preset")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--objects", default="1,2,4,8")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma list (bf16 is emulated, slow, on CPUs without AVX512-BF16/AMX)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    precisions = [p for p in args.precisions.split(",") if p]
    # only the precisions asked for: an emulated bf16 matmul of this size takes minutes
    rates = {p: matmul_gflops({"fp32": torch.float32, "bf16": torch.bfloat16}[p]) for p in precisions}
    print(f"threads {torch.get_num_threads()}; matmul 2048^2: "
          + ", ".join(f"{p} {r:.0f} GFLOP/s" for p, r in rates.items()))
    if args.model:
        model = Layout2ImModel.load(args.model, device="cpu", precision="fp32")
    else:
        model = Layout2ImModel.random(args.preset, device="cpu", precision="fp32")
    rows = []
    print(f"{'prec':5} {'objs':>4} {'full ms':>8} {'edit-last ms':>12} {'edit-first ms':>13} {'GFLOP':>6} {'bound ms':>8}")
    for prec in precisions:
        model.set_precision(prec)
        for n in (int(v) for v in args.objects.split(",")):
            full, last, first = bench(model, n, args.repeats)
            gf = generate_flops(model.G, n) / 1e9
            bound = gf / rates[prec] * 1000
            rows.append(dict(precision=prec, objects=n, full_ms=full, edit_last_ms=last, edit_first_ms=first,
                             gflops=gf, flop_bound_ms=bound))
            print(f"{prec:5} {n:4d} {full:8.1f} {last:12.1f} {first:13.1f} {gf:6.2f} {bound:8.1f}")
    best8 = [r for r in rows if r["objects"] == max(int(v) for v in args.objects.split(","))]
    full8 = min(r["full_ms"] for r in best8)
    edit8 = min(r["edit_last_ms"] for r in best8)
    print(f"\n{model.preset} preset, {best8[0]['objects']} objects, best precision: full {full8:.1f} ms "
          f"(target {TARGET_FULL_MS:.0f} ms, ratio {full8 / TARGET_FULL_MS:.2f}); single-object edit {edit8:.1f} ms "
          f"(target {TARGET_EDIT_MS:.0f} ms, ratio {edit8 / TARGET_EDIT_MS:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"preset": model.preset, "matmul_gflops": rates, "rows": rows,
                       "targets_ms": {"full": TARGET_FULL_MS, "edit": TARGET_EDIT_MS}}, f, indent=2)


if __name__ == "__main__":
    main()
