"""Command-line options every CPU benchmark here shares: how float32 subnormals are handled and how many
torch threads run. One definition, so the benchmarks measure under the same conditions as the app.

    ap = argparse.ArgumentParser()
    add_cpu_options(ap)
    args = ap.parse_args()
    apply_cpu_options(args)  # before any torch work: flush-to-zero must precede torch's worker threads
"""

from __future__ import annotations

import argparse

import torch

from layout2im_core.precision import flush_subnormals


def add_cpu_options(ap: argparse.ArgumentParser) -> None:
    """Add ``--threads`` and ``--subnormals`` to ``ap``."""
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--subnormals", choices=["flush", "keep"], default="flush",
                    help="flush: float32 subnormals flushed to zero on every thread, as the app and the CLI do "
                         "(precision.flush_subnormals); keep: the CPU's default, for an A/B in two processes")


def apply_cpu_options(args: argparse.Namespace) -> None:
    """Apply the parsed ``--subnormals`` (first, before torch starts its worker threads), then ``--threads``."""
    if args.subnormals == "flush":
        flush_subnormals()
    if args.threads:
        torch.set_num_threads(args.threads)
