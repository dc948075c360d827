"""Seconds per training iteration (one D step + one G step, forward and backward) on this machine.

Batch 8 images x 8 objects (COCO-Stuff vocabulary, 184 classes), random boxes; presets ``paper``
and ``lite`` in fp32, bf16 (autocast) or ``auto`` (the precision policy's pick for the preset:
``layout2im_core.precision``, a short timing cached per machine). Prints a table with the ratio to
the target (``paper`` <= 5 s/iter in bf16 on 2 CPU cores; the official code takes 13.1 s in fp32,
spec §12.3).

With ``--baseline CHECKOUT`` the same networks (same seed) are also trained by another revision's
code (e.g. ``git worktree add /tmp/main16 0c8c566``), the two alternating iteration by iteration in
this process, and each row gets the baseline's time and the speed-up (issue #16's target: ``paper``
>= 1.3x in the precision the policy picks). ``auto`` lets each side apply its own rule.

    python benchmarks/train_step.py [--iters 2] [--warmup 1] [--presets paper lite]
                                    [--precisions fp32 bf16 auto] [--channels-last auto|on|off]
                                    [--threads N] [--baseline CHECKOUT] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _cpu_options import add_cpu_options, apply_cpu_options  # noqa: E402

import layout2im_core.config as our_config  # noqa: E402
import layout2im_core.training.step as our_step  # noqa: E402
from layout2im_core.precision import native_bf16  # noqa: E402
from layout2im_core.training.distributed import choose_train_precision, hardware_info  # noqa: E402

TARGET_S = {"paper": 5.0}  # s/iter, set for bf16 on 2 cores; fp32 rows show their ratio to it too
TARGET_SPEEDUP = 1.3  # issue #16, paper, against the baseline, in the precision the policy picks


def make_batch(batch: int, objects: int, num_classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch, 3, 64, 64, generator=g)
    objs = torch.randint(1, num_classes, (batch, objects), generator=g)
    xy = torch.rand(batch, objects, 2, generator=g) * 0.6
    wh = 0.15 + torch.rand(batch, objects, 2, generator=g) * 0.25
    bboxes = torch.cat([xy, (xy + wh).clamp(max=1.0)], -1)
    return imgs, objs, bboxes, torch.ones(batch, objects, dtype=torch.bool)


class Runner:
    """One revision's networks, optimisers and batch; ``step(i)`` runs one timed iteration."""

    def __init__(self, config_mod, step_mod, preset, precision, channels_last, batch, objects):
        device = torch.device("cpu")
        torch.manual_seed(0)  # the same initial weights for every revision
        cfg = config_mod.model_preset(preset, num_classes=184)
        self.nets = step_mod.Networks.build(cfg, device, channels_last)
        self.opts = step_mod.Optimizers.build(self.nets, 1e-4, (0.5, 0.999))
        self.data = make_batch(batch, objects, cfg.num_classes)
        self.autocast = step_mod.autocast_context(device, precision)
        self.weights = config_mod.LossWeights()
        self.step_fn, self.channels_last, self.times = step_mod.train_step, channels_last, []

    def step(self, i: int) -> float:
        torch.manual_seed(1000 + i)  # the same noise for every revision
        t0 = time.perf_counter()
        self.step_fn(self.nets, self.opts, *self.data, self.weights, self.autocast, step=i + 1,
                     channels_last=self.channels_last)
        return time.perf_counter() - t0


def resolve(precision: str, preset: str, baseline_dist) -> dict:
    """The precision each side runs: ``auto`` -> ours by the policy (timed and cached), the
    baseline's by its own rule."""
    cpu = torch.device("cpu")
    if precision != "auto":
        return {"ours": precision, "baseline": precision, "reason": "requested"}
    choice = choose_train_precision("auto", cpu, preset)
    out = {"ours": choice.precision, "reason": choice.reason}
    if baseline_dist is not None:
        out["baseline"] = baseline_dist.resolve_precision("auto", cpu)
    return out


def measure(preset, precision, channels_last, args, baseline) -> dict:
    used = resolve(precision, preset, baseline and baseline["distributed"])
    runners = {"ours": Runner(our_config, our_step, preset, used["ours"], channels_last, args.batch, args.objects)}
    if baseline:
        runners["baseline"] = Runner(baseline["config"], baseline["step"], preset, used["baseline"], channels_last,
                                     args.batch, args.objects)
    order = list(runners)
    for i in range(args.warmup + args.iters):
        for name in (order if i % 2 == 0 else order[::-1]):
            dt = runners[name].step(i)
            if i >= args.warmup:
                runners[name].times.append(dt)
    r = runners["ours"]
    s = statistics.median(r.times)
    row = {"preset": preset, "precision": precision, "precision_used": used["ours"], "reason": used["reason"],
           "channels_last": channels_last, "s_per_iter": s, "s_min": min(r.times), "times": r.times,
           "images_per_s": args.batch / s, "iters": args.iters, "target_s": TARGET_S.get(preset)}
    if baseline:
        b = runners["baseline"]
        row.update(baseline_precision=used["baseline"], baseline_s_per_iter=statistics.median(b.times),
                   baseline_times=b.times, speedup=statistics.median(b.times) / s)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["paper", "lite"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "auto"])
    ap.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                    help="auto: as the trainer (on for CPU)")
    ap.add_argument("--force-bf16", action="store_true",
                    help="measure bf16 even where the CPU has no native bf16 (emulated: very slow)")
    ap.add_argument("--iters", type=int, default=2, help="timed iterations per row (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--objects", type=int, default=8)
    ap.add_argument("--baseline", default=None, help="a checkout of another revision to compare with")
    ap.add_argument("--json", type=Path, help="also write the results here")
    add_cpu_options(ap)
    args = ap.parse_args(argv)
    apply_cpu_options(args)
    baseline = None
    if args.baseline:
        from _baseline import baseline_module, revision

        baseline = {"config": baseline_module(args.baseline, "config"),
                    "step": baseline_module(args.baseline, "training.step"),
                    "distributed": baseline_module(args.baseline, "training.distributed"),
                    "revision": revision(args.baseline)}
    native = native_bf16(torch.device("cpu"))[0]
    rows = []
    print(f"{'preset':<7} {'prec':<5} {'ch_last':<7} {'s/iter':>8} {'min':>8} {'img/s':>7} {'target':>7} {'ratio':>6}"
          + ("  | baseline s/iter  speed-up" if baseline else ""))
    for preset in args.presets:
        for precision in args.precisions:
            cl = args.channels_last in ("on", "auto")
            if precision == "bf16" and not native and not args.force_bf16:
                print(f"{preset:<7} {precision:<5} skipped: this CPU has no native bf16 (AVX512-BF16/AMX); "
                      f"emulated bf16 is several times slower than fp32 (--force-bf16 measures it)")
                rows.append({"preset": preset, "precision": precision, "skipped": "no native bf16",
                             "target_s": TARGET_S.get(preset)})
                continue
            r = measure(preset, precision, cl, args, baseline)
            r["ratio_to_target"] = r["s_per_iter"] / r["target_s"] if r["target_s"] else None
            rows.append(r)
            tgt = f"{r['target_s']:.1f}" if r["target_s"] else "-"
            ratio = f"{r['ratio_to_target']:.2f}" if r["ratio_to_target"] else "-"
            line = (f"{preset:<7} {r['precision_used']:<5} {str(cl):<7} {r['s_per_iter']:>8.2f} {r['s_min']:>8.2f} "
                    f"{r['images_per_s']:>7.2f} {tgt:>7} {ratio:>6}")
            if baseline:
                line += f"  | {r['baseline_precision']:<5} {r['baseline_s_per_iter']:>8.2f}  {r['speedup']:>6.2f}x"
            print(line + (f"   ({r['reason']})" if precision == "auto" else ""), flush=True)
    info = {**hardware_info(torch.device("cpu")), "python": platform.python_version(),
            "batch": args.batch, "objects": args.objects, "loadavg_1min": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "baseline": args.baseline and {"path": args.baseline, "revision": baseline["revision"]}}
    print(f"# {info['cpu']}, {info['cores']} cores, {info['threads']} threads, torch {info['torch']}, load "
          f"{info['loadavg_1min']:.2f}; ratio = s/iter / target (<= 1 meets it)"
          + (f"; speed-up = baseline {args.baseline} ({baseline['revision']}) s/iter / ours, target >= "
             f"{TARGET_SPEEDUP} for paper in the policy's precision" if baseline else ""))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
