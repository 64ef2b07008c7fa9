"""One window per data folder, with real processes: a second launch hands its model to the first
window and exits 0; the command line keeps working beside it; a crash leaves nothing that blocks
the next start. The first window's log file (INFO) is where it says what it received."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.ui.shell.single_instance import server_name

ROOT = Path(__file__).resolve().parents[3]
CLI = "import sys; from fireside.cli import main; sys.exit(main(sys.argv[1:]))"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FIRESIDE_STARTUP_PROBE"}
    return env | {"FIRESIDE_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
                  "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                  "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT)])}


def _fireside(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(home))


def _log(home: Path) -> str:
    path = home / "logs" / "fireside.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _wait_for_log(home: Path, text: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in _log(home):
        assert "Model not loaded" not in _log(home), _log(home)[-2000:]
        assert proc.poll() is None, f"the first window exited ({proc.returncode}):\n{_log(home)[-2000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{_log(home)[-2000:]}"
        time.sleep(0.05)  # sleep-ok: polling the log file another process writes


@pytest.fixture
def first_window(fireside_home: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", CLI], env=_env(fireside_home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_log(fireside_home, "later launches with this data folder hand over to it", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_second_launch_hands_its_model_to_the_first_window(
    first_window: subprocess.Popen[str], fireside_home: Path, tiny_gptoss_path: Path
) -> None:
    start = time.monotonic()
    second = _fireside(fireside_home, "--model", str(tiny_gptoss_path))
    took = time.monotonic() - start
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip().splitlines() == [
        f"Fireside is already open: it is loading {tiny_gptoss_path} and was brought to the front."]
    assert took < 20, f"the second launch took {took:.1f} s"
    _wait_for_log(fireside_home, f"Another launch handed over: model={tiny_gptoss_path}", first_window)
    _wait_for_log(fireside_home, f"Model loaded: {tiny_gptoss_path}", first_window)  # by the first
    assert first_window.poll() is None

    third = _fireside(fireside_home)  # no arguments: just bring the window to the front
    assert third.returncode == 0, third.stderr[-2000:]
    assert third.stdout.strip() == "Fireside is already open: its window was brought to the front."
    _wait_for_log(fireside_home, "Another launch handed over: model=None", first_window)

    # The command line is not a window: it works beside the running one.
    listing = _fireside(fireside_home, "conversations", "list", "--json")
    assert listing.returncode == 0, listing.stderr


def test_a_crashed_window_leaves_nothing_that_blocks_the_next(
    first_window: subprocess.Popen[str], fireside_home: Path, tiny_gptoss_path: Path
) -> None:
    first_window.send_signal(signal.SIGKILL)  # a crash: lock file and socket file stay behind
    first_window.wait(timeout=30)
    assert (fireside_home / "data" / "window.lock").exists()
    log_before = _log(fireside_home)

    replacement = subprocess.Popen([sys.executable, "-c", CLI], env=_env(fireside_home), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _log(fireside_home).count("later launches with this data folder hand over") < 2:
            assert replacement.poll() is None, replacement.communicate()[1][-2000:]
            assert time.monotonic() < deadline, _log(fireside_home)[len(log_before):]
            time.sleep(0.05)  # sleep-ok: polling the log file another process writes
        second = _fireside(fireside_home, "--model", str(tiny_gptoss_path))
        assert second.returncode == 0, second.stderr[-2000:]
        assert "already open" in second.stdout
        _wait_for_log(fireside_home, f"Model loaded: {tiny_gptoss_path}", replacement)
    finally:
        replacement.kill()
        replacement.communicate(timeout=30)


def test_two_data_folders_are_two_windows(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "data", tmp_path / "b" / "data"
    assert server_name(a) != server_name(b)
    assert server_name(a) == server_name(tmp_path / "a" / ".." / "a" / "data")
    assert len(server_name(a)) < 40  # Unix socket paths are short
