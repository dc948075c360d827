"""Seconds per training iteration (one D step + one G step, forward and backward) on this machine.

Batch 8 images x 8 objects (COCO-Stuff vocabulary, 184 classes), random boxes; presets ``paper``
and ``lite`` in fp32 and bf16 (autocast). Prints a table with the ratio to the target (``paper``
<= 5 s/iter in bf16 on 2 CPU cores; the official code takes 13.1 s in fp32, spec §12.3).

    python benchmarks/train_step.py [--iters 2] [--warmup 1] [--presets paper lite]
                                    [--precisions fp32 bf16] [--channels-last auto|on|off] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from layout2im_core.config import LossWeights, model_preset  # noqa: E402
from layout2im_core.training.distributed import hardware_info, native_bf16  # noqa: E402
from layout2im_core.training.step import Networks, Optimizers, autocast_context, train_step  # noqa: E402

TARGET_S = {"paper": 5.0}  # s/iter, set for bf16 on 2 cores; fp32 rows show their ratio to it too


def make_batch(batch: int, objects: int, num_classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(batch, 3, 64, 64, generator=g)
    objs = torch.randint(1, num_classes, (batch, objects), generator=g)
    xy = torch.rand(batch, objects, 2, generator=g) * 0.6
    wh = 0.15 + torch.rand(batch, objects, 2, generator=g) * 0.25
    bboxes = torch.cat([xy, (xy + wh).clamp(max=1.0)], -1)
    return imgs, objs, bboxes, torch.ones(batch, objects, dtype=torch.bool)


def measure(preset: str, precision: str, channels_last: bool, iters: int, warmup: int, batch: int,
            objects: int) -> dict:
    device = torch.device("cpu")
    torch.manual_seed(0)
    cfg = model_preset(preset, num_classes=184)
    nets = Networks.build(cfg, device, channels_last)
    opts = Optimizers.build(nets, 1e-4, (0.5, 0.999))
    imgs, objs, bboxes, mask = make_batch(batch, objects, cfg.num_classes)
    autocast = autocast_context(device, precision)
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        train_step(nets, opts, imgs, objs, bboxes, mask, LossWeights(), autocast, step=i + 1,
                   channels_last=channels_last)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    return {"preset": preset, "precision": precision, "channels_last": channels_last, "s_per_iter": s,
            "s_min": min(times), "images_per_s": batch / s, "iters": iters,
            "target_s": TARGET_S.get(preset)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["paper", "lite"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                    help="auto: as the trainer (on for CPU)")
    ap.add_argument("--force-bf16", action="store_true",
                    help="measure bf16 even where the CPU has no native bf16 (emulated: very slow)")
    ap.add_argument("--iters", type=int, default=2, help="timed iterations per row (median reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--objects", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"{'preset':<7} {'prec':<5} {'ch_last':<7} {'s/iter':>8} {'min':>8} {'img/s':>7} {'target':>7} {'ratio':>6}")
    for preset in args.presets:
        for precision in args.precisions:
            cl = args.channels_last in ("on", "auto")
            if precision == "bf16" and not native_bf16(torch.device("cpu")) and not args.force_bf16:
                print(f"{preset:<7} {precision:<5} skipped: this CPU has no native bf16 (AVX512-BF16/AMX); "
                      f"emulated bf16 is several times slower than fp32 (--force-bf16 measures it)")
                rows.append({"preset": preset, "precision": precision, "skipped": "no native bf16",
                             "target_s": TARGET_S.get(preset)})
                continue
            r = measure(preset, precision, cl, args.iters, args.warmup, args.batch, args.objects)
            r["ratio_to_target"] = r["s_per_iter"] / r["target_s"] if r["target_s"] else None
            rows.append(r)
            tgt = f"{r['target_s']:.1f}" if r["target_s"] else "-"
            ratio = f"{r['ratio_to_target']:.2f}" if r["ratio_to_target"] else "-"
            print(f"{preset:<7} {precision:<5} {str(cl):<7} {r['s_per_iter']:>8.2f} {r['s_min']:>8.2f} "
                  f"{r['images_per_s']:>7.2f} {tgt:>7} {ratio:>6}", flush=True)
    info = {**hardware_info(torch.device("cpu")), "python": platform.python_version(),
            "batch": args.batch, "objects": args.objects}
    print(f"# {info['cpu']}, {info['cores']} cores, {info['threads']} threads, torch {info['torch']}; "
          f"ratio = s/iter / target (<= 1 meets it)")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
