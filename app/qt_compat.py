"""Work-arounds for bugs of the Qt binding that the app runs on.

PySide6 6.12.0 on CPython 3.10 / 3.11 drops one reference to ``None`` at every call of a method that
returns nothing (``setText``, ``update``, ``processEvents``…). ``None`` is immortal from CPython 3.12
on, so there the slip is harmless; before 3.12 the count runs down to zero after some tens of
thousands of such calls (a minute of dragging a box or a slider) and the interpreter aborts with
"Fatal Python error: none_dealloc: deallocating None". :func:`protect_none` detects the slip and
gives ``None`` a reference count so large that it can never run down, as CPython 3.12 does.
"""

from __future__ import annotations

import sys

_DONE = False
_BIG = 1 << 48  # references added to None: at a million lost per second, nine years


def protect_none() -> bool:
    """Make ``None`` effectively immortal when the Qt binding loses references to it (CPython < 3.12
    only; a no-op elsewhere and when the binding behaves). Returns True when the fix was applied."""
    global _DONE
    if _DONE or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("probe")  # returns nothing
    lost = before - sys.getrefcount(None)
    _DONE = True
    if lost < 32:
        return False
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += _BIG  # ob_refcnt is PyObject's first field
    return True
