"""Why Qt cannot open a window, said in one line instead of Qt's platform-plugin dump. Qt-free.

Two checks run before the QApplication exists: :func:`display_problem` (Linux without a display) and,
when Qt's start-up fails anyway, :func:`startup_failure` builds the one line from the messages Qt
printed and from :func:`missing_xcb_libraries` (the system libraries Qt's X11 plugin loads, by their
Debian/Ubuntu package names).
"""

from __future__ import annotations

import ctypes
import sys
from typing import Callable, List, Mapping, Optional, Sequence

# soname -> Debian/Ubuntu package: what Qt 6's xcb platform plugin needs beyond libxcb1 (README)
XCB_LIBRARIES = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"), ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"), ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-randr.so.0", "libxcb-randr0"), ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libEGL.so.1", "libegl1"), ("libGL.so.1", "libgl1"), ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)
PREFIX = "layout2im-studio: "


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def missing_xcb_libraries(loads: Callable[[str], bool] = _loads) -> List[str]:
    """Package names of the X11 libraries Qt needs that cannot be loaded here (empty off Linux)."""
    if not sys.platform.startswith("linux"):
        return []
    return [pkg for soname, pkg in XCB_LIBRARIES if not loads(soname)]


def _platform(env: Mapping[str, str], argv: Sequence[str]) -> str:
    for i, a in enumerate(argv):
        if a == "-platform" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("-platform="):
            return a.split("=", 1)[1]
    return env.get("QT_QPA_PLATFORM", "")


def display_problem(env: Mapping[str, str], argv: Sequence[str] = (), platform: str = sys.platform) -> Optional[str]:
    """One line when a Linux session has no display for Qt to open a window on, else None. A chosen
    Qt platform other than X11/Wayland (``QT_QPA_PLATFORM=offscreen``, vnc, ...) needs none."""
    if not platform.startswith("linux"):
        return None
    qpa = _platform(env, argv).split(":")[0].split(";")[0]
    if qpa and not (qpa.startswith("xcb") or qpa.startswith("wayland")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return (PREFIX + "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): "
            "start it from a desktop session, or for a headless check run "
            "QT_QPA_PLATFORM=offscreen layout2im-studio --self-test out.png")


def startup_failure(qt_messages: Sequence[str], env: Mapping[str, str],
                    missing: Optional[Sequence[str]] = None) -> str:
    """The one line to print when Qt could not start, from what Qt said (``qt_messages``)."""
    text = "\n".join(qt_messages)
    missing = missing_xcb_libraries() if missing is None else list(missing)
    if missing and ("xcb" in text or not text):
        return (PREFIX + "Qt cannot open a window: missing system libraries " + " ".join(missing) +
                " (Debian/Ubuntu: sudo apt-get install " + " ".join(missing) + "; see README)")
    if "could not connect to display" in text or "cannot open display" in text.lower():
        where = env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or "(none)"
        return PREFIX + f"cannot connect to the display {where}: is an X or Wayland server running there?"
    last = next((m for m in reversed(qt_messages) if m.strip()), "no platform plugin could be started")
    return PREFIX + "Qt cannot open a window: " + last.strip().splitlines()[0]
