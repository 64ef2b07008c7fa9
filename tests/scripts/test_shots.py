"""The screenshot drivers share scripts/shots.py instead of each keeping its own copy of the path
set-up, waiting, grabbing and window lookup; and those shared helpers do what the drivers need.
(The drivers themselves run under Xvfb, by hand: they need an X server and ImageMagick.)"""

from __future__ import annotations

import ast
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
DRIVERS = ["conversation_screens.py", "tool_screens.py", "remote_screens.py",
           "model_manager_screens.py", "policy_screens.py", "tools_dialog_screens.py"]
SHARED = {"settle", "shoot", "shot", "shoot_screen", "wait_for", "wait_until", "top", "dark_palette"}


@pytest.fixture(scope="module")
def shots() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shots", SCRIPTS / "shots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", DRIVERS)
def test_each_driver_takes_its_helpers_from_shots(name: str) -> None:
    tree = ast.parse((SCRIPTS / name).read_text(encoding="utf-8"))
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} & SHARED
    assert not own, f"{name} defines its own {sorted(own)}; use scripts/shots.py's"
    path_setup = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "insert"
                  and isinstance(n.value, ast.Attribute) and n.value.attr == "path"]
    assert not path_setup, f"{name} sets sys.path itself; importing shots does that"
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "shots" in imported


def test_wait_until_says_whether_it_happened(qtbot, shots: ModuleType) -> None:  # type: ignore[no-untyped-def]
    flag: list[bool] = []
    QTimer.singleShot(30, lambda: flag.append(True))
    assert shots.wait_until(lambda: bool(flag), timeout_ms=5_000)
    assert not shots.wait_until(lambda: False, timeout_ms=50)


def test_require_stops_the_driver_naming_the_line_it_waited_at(qtbot, shots: ModuleType) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as stopped:
        shots.require(lambda: False, timeout_s=0.05)
    line = sys._getframe().f_lineno - 1
    assert str(stopped.value) == f"timed out waiting at line {line}"


def test_top_finds_the_visible_window_of_a_type(qtbot, shots: ModuleType) -> None:  # type: ignore[no-untyped-def]
    label = QLabel("hello")
    qtbot.addWidget(label)
    assert shots.top(QLabel) is None
    label.show()
    assert shots.top(QLabel) is label and shots.top(QWidget) is not None


def test_without_a_display_a_driver_says_how_to_get_one(
        shots: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert shots.no_display(":97")
    assert "Xvfb :97" in err.getvalue() and "DISPLAY=:97" in err.getvalue()
    monkeypatch.setenv("DISPLAY", ":97")
    assert not shots.no_display(":97")
