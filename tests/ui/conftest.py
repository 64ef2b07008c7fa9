"""GUI test fixtures: offscreen Qt, a throwaway FIRESIDE_HOME, windows run by ScriptedEngine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from fireside.core.paths import Paths, app_paths
from fireside.ui.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine

MODEL_PATH = "/models/gpt-oss-20b-mxfp4.gguf"


@pytest.fixture(autouse=True)
def fireside_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, data and models for each test live under its own temporary directory."""
    home = tmp_path / "fireside-home"
    monkeypatch.setenv("FIRESIDE_HOME", str(home))
    # no machine policy unless a test writes one here (never the real /etc/fireside/policy.json)
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(tmp_path / "policy.json"))
    return home


@pytest.fixture
def paths(fireside_home: Path) -> Paths:
    return app_paths()


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


MakeWindow = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, paths: Paths) -> Iterator[MakeWindow]:  # type: ignore[no-untyped-def]
    """Build MainWindows that are closed (worker thread stopped) at teardown, even on failure."""
    windows: list[MainWindow] = []

    def make(engine: ScriptedEngine, **kwargs: object) -> MainWindow:
        kwargs.setdefault("settings_path", paths.settings_file)
        kwargs.setdefault("paths", paths)
        window = MainWindow(lambda: engine, **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        window.shutdown()


@pytest.fixture
def window(make_window: MakeWindow, engine: ScriptedEngine) -> MainWindow:
    win = make_window(engine)
    win.show()
    return win


@pytest.fixture
def loaded_window(qtbot, window: MainWindow) -> MainWindow:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    return window
