"""GUI test fixtures: offscreen Qt, a throwaway FIRESIDE_HOME, windows run by ScriptedEngine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

from fireside.core.config.paths import Paths, app_paths
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine

MODEL_PATH = "/models/gpt-oss-20b-mxfp4.gguf"


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


OpenRealWindow = Callable[..., MainWindow]


@pytest.fixture
def open_real_window(qtbot, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> OpenRealWindow:  # type: ignore[no-untyped-def]
    """Open a model in a MainWindow on the real llama.cpp engine (greedy, `n_ctx` and `max_tokens`
    as asked) the way a person does: the welcome screen's Open button, the file dialog answering
    `model`."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    from fireside.core.chat.conversation import Sampling
    from fireside.core.config.settings import Settings, save_settings
    from fireside.core.engine.llama_engine import LlamaEngine

    def open_window(model: Path, *, n_ctx: int, max_tokens: int,
                    timeout_ms: int = 60_000) -> MainWindow:
        save_settings(Settings(n_ctx=n_ctx), paths.settings_file)
        window = MainWindow(LlamaEngine, settings_path=paths.settings_file, paths=paths,
                            max_tokens=max_tokens, sampling=Sampling.greedy())
        qtbot.addWidget(window)
        window.show()
        monkeypatch.setattr(QFileDialog, "getOpenFileName",
                            staticmethod(lambda *args: (str(model), "GGUF model files (*.gguf)")))
        with qtbot.waitSignal(window.modelLoaded, timeout=timeout_ms):
            qtbot.mouseClick(window.welcome.open_button, Qt.MouseButton.LeftButton)
        return window

    return open_window


@pytest.fixture
def make_dialog(qtbot, paths: Paths):  # type: ignore[no-untyped-def]
    """Model manager dialogs, closed (worker threads joined) at teardown, even on failure."""
    from keyring.backends import fail

    from fireside.core.config.secrets import TokenStore
    from fireside.core.models.fit_planner import Machine
    from fireside.ui.models.model_manager import ModelManagerDialog

    gpu16 = Machine(32 << 30, "CUDA", 15 << 30)  # a 16 GB card with 15 GiB free
    dialogs: list[ModelManagerDialog] = []

    def make(machine: Machine | None = gpu16, tokens: TokenStore | None = None,
             wait_listed: bool = True) -> ModelManagerDialog:
        dialog = ModelManagerDialog(paths, machine=machine,
                                    tokens=tokens or TokenStore(fail.Keyring()))
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        if wait_listed:
            with qtbot.waitSignal(dialog.installedListed, timeout=10_000):
                pass  # the folders are scanned off the GUI thread; a person sees the list a moment later
        return dialog

    yield make
    for dialog in dialogs:
        dialog.shutdown()
        assert not dialog._service.thread.isRunning()
