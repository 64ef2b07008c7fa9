"""run_gui / create_window: the `fireside` and `fireside --model PATH` start-up paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, load_settings, save_settings
from fireside.ui.shell import app as gui_app
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine


def test_run_gui_opens_the_window_and_loads_the_model_given(
    qtbot, tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "gpt-oss-20b.gguf"
    model.write_bytes(b"GGUF")
    engine = ScriptedEngine()
    seen: list[MainWindow] = []
    earlier = set(QApplication.topLevelWidgets())  # closed windows of earlier tests, not yet deleted

    def fake_exec(self: QApplication) -> int:
        """Stands in for the event loop: wait for the load, then close like a user would."""
        window = next(w for w in QApplication.topLevelWidgets()
                      if isinstance(w, MainWindow) and w not in earlier)
        seen.append(window)
        assert window.isVisible()
        qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert gui_app.run_gui(str(model), engine_factory=lambda: engine) == 0
    assert engine.loads == [str(model)]
    assert QApplication.applicationName() == "Fireside"
    assert QApplication.organizationName() == "Fireside"
    assert load_settings(paths.settings_file).last_model == str(model)
    assert not seen[0]._thread.isRunning()


def test_create_window_prefers_the_command_line_over_the_last_model(
    qtbot, tmp_path: Path, paths: Paths
) -> None:
    last, given = tmp_path / "last.gguf", tmp_path / "given.gguf"
    for f in (last, given):
        f.write_bytes(b"GGUF")
    save_settings(Settings().with_recent_model(str(last)), paths.settings_file)
    engine = ScriptedEngine()
    window = gui_app.create_window(str(given), lambda: engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        pass
    assert engine.loads == [str(given)]
    window.close()


def test_create_window_reloads_the_last_model_without_a_path(
    qtbot, tmp_path: Path, paths: Paths
) -> None:
    last = tmp_path / "last.gguf"
    last.write_bytes(b"GGUF")
    save_settings(Settings().with_recent_model(str(last)), paths.settings_file)
    engine = ScriptedEngine()
    window = gui_app.create_window(None, lambda: engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        pass
    assert engine.loads == [str(last)]
    window.close()
