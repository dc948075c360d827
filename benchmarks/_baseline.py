"""Load another revision's ``layout2im_core`` beside this one, for same-process speed comparisons.

    git worktree add /tmp/main16 0c8c566          # a read-only checkout of the revision to compare
    python benchmarks/generate.py --baseline /tmp/main16

The package is imported under the name ``layout2im_core_baseline`` (its imports are relative, so it
uses its own modules throughout). Timings on a shared machine drift by tens of percent within
minutes; comparing two revisions in one process, alternating call by call, cancels most of that.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

NAME = "layout2im_core_baseline"


def load_baseline(checkout) -> object:
    """Import ``<checkout>/layout2im_core`` as ``layout2im_core_baseline`` and return the package.

    Raises:
        FileNotFoundError: ``checkout`` has no ``layout2im_core/__init__.py``.
    """
    root = Path(checkout).resolve() / "layout2im_core"
    init = root / "__init__.py"
    if not init.is_file():
        raise FileNotFoundError(f"{checkout} is not a checkout of this project (no layout2im_core/__init__.py)")
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(NAME, init, submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module


def baseline_module(checkout, name: str):
    """A submodule of the baseline package, e.g. ``baseline_module(path, "inference")``."""
    load_baseline(checkout)
    return importlib.import_module(f"{NAME}.{name}")


def revision(checkout) -> str:
    """Short commit id of a git checkout ("?" when it cannot be read)."""
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
