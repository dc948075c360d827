"""``layout2im`` command line. Each subcommand lives in the module that owns its work; a module
registers its subcommands through a ``register(subparsers)`` function that sets ``func`` on its
parser.

Exit status: 0 done; 1 no subcommand given (help printed), or a gate not met (``check-scenes`` when
a figure misses its bar); 2 bad input, one clear line on stderr and no traceback (a usage error, a
documented error of the core (Layout2ImError), a file-system error such as a read-only or full disk,
out of memory); 3 an internal error (a bug: one line, ``-v`` shows the traceback); 130 interrupted.
See docs/bad-input.md.
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
    """The ``layout2im`` parser with every installed subcommand (usage errors are one line)."""
    from .cli_args import OneLineParser

    parser = OneLineParser(prog="layout2im", description="Layout2Im: image generation from layout.")
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


def _os_error_text(e: OSError) -> str:
    """One line for a file-system error: the file and the system's reason."""
    from .errors import clip

    reason = e.strerror or str(e) or type(e).__name__
    return f"{clip(str(e.filename), 160)}: {reason}" if e.filename else clip(reason, 200)


def _say(command: str, text: str) -> None:
    from .errors import clip

    print(f"layout2im {command}: error: {clip(' '.join(str(text).split()), 600)}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``layout2im`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (see the
    module docstring). Usage errors exit through argparse with status 2."""
    from .errors import Layout2ImError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from .precision import flush_subnormals

    flush_subnormals()  # before torch starts its worker threads, so they inherit it
    try:
        return int(args.func(args) or 0)
    except Layout2ImError as e:
        _say(args.command, str(e))
        return 2
    except OSError as e:
        _say(args.command, _os_error_text(e))
        return 2
    except MemoryError:
        _say(args.command, "out of memory")
        return 2
    except RecursionError:
        _say(args.command, "an input is nested too deeply")
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line, the traceback only with -v
        if args.verbose:
            raise
        _say(args.command, f"internal error (a bug; run with -v for the traceback): {type(e).__name__}: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
