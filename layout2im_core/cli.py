"""``layout2im`` command line. Each subcommand lives in the module that owns its work; a module
registers its subcommands through a ``register(subparsers)`` function that sets ``func`` on its
parser. Errors of the core (Layout2ImError) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

# Modules that register subcommands; imported lazily so `layout2im --help` stays fast.
_COMMAND_MODULES = (
    "layout2im_core.commands",            # info, import-official, generate, make-scenes
    "layout2im_core.training.commands",   # train, directions, export
    "layout2im_core.metrics.commands",    # eval, check-scenes
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layout2im", description="Layout2Im: image generation from layout.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:
                continue  # that part of the product is not installed
            raise
        mod.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .errors import Layout2ImError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except Layout2ImError as e:
        print(f"layout2im {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
