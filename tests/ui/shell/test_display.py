"""`fireside` without a screen: one line and exit 2, decided before Qt is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fireside.ui.shell.display import no_display_reason

ROOT = Path(__file__).resolve().parents[3]
CLI = "import sys; from fireside.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize(("env", "ok"), [
    ({}, False),
    ({"DISPLAY": ":0"}, True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, True),
    ({"QT_QPA_PLATFORM": "offscreen"}, True),
    ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, True),
    ({"QT_QPA_PLATFORM": "eglfs"}, True),
    ({"QT_QPA_PLATFORM": "xcb"}, False),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, False),  # Qt will not switch
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":1"}, True),  # falls back to X11
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, False),
    ({"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-1"}, True),
    ({"DISPLAY": ""}, False),
])
def test_linux_needs_x11_or_wayland_unless_qt_draws_offscreen(env: dict[str, str], ok: bool) -> None:
    reason = no_display_reason(env, "linux")
    assert (reason is None) == ok, reason
    if reason is not None:
        assert "needs a graphical session" in reason
        assert "`fireside chat` and `fireside serve` work without one" in reason
        assert "\n" not in reason


def test_the_reason_names_what_is_missing() -> None:
    assert "DISPLAY and WAYLAND_DISPLAY are not set" in (no_display_reason({}, "linux") or "")
    assert "QT_QPA_PLATFORM=xcb but DISPLAY is not set" in (
        no_display_reason({"QT_QPA_PLATFORM": "xcb"}, "linux") or "")


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_always_have_a_session(platform: str) -> None:
    assert no_display_reason({}, platform) is None


def _headless(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env |= {"FIRESIDE_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT)])}
    probe = ("import sys; from fireside.cli import main; rc = main(sys.argv[1:]); "
             "print('PySide6 imported' if 'PySide6' in sys.modules else 'no Qt'); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for Linux/Unix")
@pytest.mark.parametrize("args", [(), ("--model", "/nonexistent/model.gguf")])
def test_fireside_without_a_display_exits_2_with_one_line(args: tuple[str, ...], fireside_home: Path) -> None:
    r = _headless(*args, home=fireside_home)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("fireside: The Fireside window needs a graphical session")
    assert "fireside chat" in lines[0] and "fireside serve" in lines[0]
    assert r.stdout.strip() == "no Qt"  # decided before PySide6 was imported


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is for Linux/Unix")
def test_the_real_command_without_a_display(fireside_home: Path) -> None:
    """The installed `fireside` entry point, run the way a user over SSH would (env -u DISPLAY)."""
    env = {**os.environ, "FIRESIDE_HOME": str(fireside_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT)])}
    r = subprocess.run(["env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", "-u", "QT_QPA_PLATFORM",
                        sys.executable, "-c", CLI], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "graphical session" in r.stderr
