"""PyInstaller entry point of the Layout2Im Studio bundle.

torch is imported before PySide6: on Windows, torch's DLLs (torch >= 2.9) must be loaded before Qt's
or ``import torch`` fails later on the worker thread. The cost (about a second) is paid before the
window shows, only in the frozen build; ``python -m app`` keeps its lazy import.
"""

import multiprocessing
import os
import sys
import warnings

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start a second window
    # A windowed build on Windows / macOS has no console: sys.stdout / sys.stderr are None there, and a
    # print (a warning from torch, a self-test message) would raise. Send them nowhere instead.
    for _name in ("stdout", "stderr"):
        if getattr(sys, _name) is None:
            setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))
    # The bundle carries torch as bytecode: TorchScript's overload registry warns, once per function,
    # that it cannot read the source. The app never scripts; hide that start-up noise.
    warnings.filterwarnings("ignore", message=r"Unable to retrieve source for @torch\.jit\._overload")
    import torch  # noqa: F401  (DLL load order: torch before Qt)

    from app.__main__ import main

    sys.exit(main())
