"""Launching without a usable display: one clear line and exit status 2, never Qt's plugin dump."""

import os
import subprocess
import sys
from pathlib import Path

from app.platform_check import XCB_LIBRARIES, display_problem, missing_xcb_libraries, startup_failure

ROOT = Path(__file__).resolve().parents[1]


def test_no_display_is_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    res = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("layout2im-studio: no display") and "QT_QPA_PLATFORM=offscreen" in lines[0]
    assert "qt.qpa" not in res.stderr and "Available platform plugins" not in res.stderr


def test_display_problem_only_for_linux_window_platforms():
    assert display_problem({}, platform="linux")
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}, platform="linux")
    assert display_problem({"DISPLAY": ":0"}, platform="linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, platform="linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert display_problem({}, ["-platform", "offscreen"], platform="linux") is None
    assert display_problem({}, platform="win32") is None and display_problem({}, platform="darwin") is None


def test_missing_libraries_are_named_by_package():
    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    missing = missing_xcb_libraries(lambda soname: soname not in absent)
    if sys.platform.startswith("linux"):
        assert missing == ["libxcb-cursor0", "libxcb-icccm4"]
    line = startup_failure(["qt.qpa.plugin: Could not load the Qt platform plugin \"xcb\""], {"DISPLAY": ":0"},
                           missing=["libxcb-cursor0", "libxcb-icccm4"])
    assert "\n" not in line and "apt-get install libxcb-cursor0 libxcb-icccm4" in line
    assert len({pkg for _, pkg in XCB_LIBRARIES}) == len(XCB_LIBRARIES)


def test_unreachable_display_and_other_failures_are_one_line():
    line = startup_failure(["qt.qpa.xcb: could not connect to display :7", "fatal"], {"DISPLAY": ":7"}, missing=[])
    assert line == "layout2im-studio: cannot connect to the display :7: is an X or Wayland server running there?"
    line = startup_failure(["first", "This application failed to start\nmore"], {}, missing=[])
    assert line == "layout2im-studio: Qt cannot open a window: This application failed to start"
