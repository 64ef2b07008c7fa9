"""The advanced load-settings panel, installed-model fit badges, and the ways into the manager."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, load_settings
from fireside.core.engine.protocol import LoadConfig, ModelInfo
from fireside.core.models.fit_planner import BADGE_CPU, BADGE_GPU, Machine
from fireside.ui.models import fit_planner_jobs as fit_jobs
from fireside.ui.models.load_settings import LoadSettingsDialog
from fireside.ui.models.model_manager import CHECKING, ModelManagerDialog
from tests.helpers.stubs import ScriptedEngine

GiB = 1 << 30
GPU16 = Machine(32 * GiB, "CUDA", 15 * GiB)
LAPTOP = Machine(16 * GiB)


class RecordingEngine(ScriptedEngine):
    """A scripted engine that also keeps the LoadConfig each load was given."""

    def __init__(self) -> None:
        super().__init__()
        self.configs: list[LoadConfig] = []

    def load(self, path: str, config: LoadConfig | None = None) -> ModelInfo:
        self.configs.append(config or LoadConfig())
        return super().load(path, config)


@pytest.fixture
def installed(paths: Paths, tiny_gptoss_path: Path) -> Path:
    """The tiny gpt-oss model copied into the models folder, as if downloaded."""
    dest = paths.models / "org" / "tiny.gguf"
    dest.parent.mkdir(parents=True)
    shutil.copyfile(tiny_gptoss_path, dest)
    return dest


def _no_exec(monkeypatch: pytest.MonkeyPatch, cls: type, opened: list) -> None:
    def fake_exec(self) -> int:  # type: ignore[no-untyped-def]
        opened.append(self)
        return 0

    monkeypatch.setattr(cls, "exec", fake_exec)


def test_panel_shows_the_plan_for_a_model(qtbot, installed: Path):
    dialog = LoadSettingsDialog(Settings(), str(installed), machine=GPU16)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.planShown, timeout=10_000) as shown:
        pass
    text = shown.args[0]
    assert BADGE_GPU in text and "On the GPU: All layers" in text
    assert "Experts on CPU: None" in text and "Context: 4,096 tokens" in text
    assert "Flash attention: On" in text
    assert dialog.plan_reason.text() and not dialog.gpu_spin.isEnabled()
    dialog.reject()


def test_panel_says_plainly_when_the_file_cannot_be_read(qtbot, tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    dialog = LoadSettingsDialog(Settings(), str(bad), machine=LAPTOP)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.planShown, timeout=10_000) as shown:
        pass
    assert "could not work out a plan for bad.gguf" in shown.args[0]
    dialog.reject()


def test_overrides_are_saved_and_used_on_the_next_load(qtbot, make_window, monkeypatch,
                                                       paths: Paths):
    engine = RecordingEngine()
    window = make_window(engine)
    opened: list[LoadSettingsDialog] = []
    _no_exec(monkeypatch, LoadSettingsDialog, opened)
    action = next(a for a in window.menuBar().actions()[0].menu().actions()
                  if "Advanced load settings" in a.text())
    action.trigger()
    (dialog,) = opened
    assert "No model is loaded" in dialog.plan_label.text()
    dialog.auto_check.setChecked(False)
    assert dialog.gpu_spin.isEnabled()
    dialog.ctx_spin.setValue(4096)
    dialog.gpu_spin.setValue(10)
    dialog.threads_spin.setValue(3)
    dialog.flash_check.setChecked(False)
    dialog.offline_check.setChecked(True)
    dialog.save()
    saved = load_settings(paths.settings_file)
    assert (saved.auto_fit, saved.n_ctx, saved.n_gpu_layers, saved.n_threads, saved.flash_attn,
            saved.offline) == (False, 4096, 10, 3, False, True)
    assert window.settings == saved
    with qtbot.waitSignal(window.modelLoaded, timeout=5000) as loaded:
        window.load_model("/models/tiny.gguf")
    assert loaded.args[0].n_ctx == 4096
    config = engine.configs[-1]
    assert (config.auto_fit, config.n_gpu_layers, config.n_threads, config.flash_attn) == (
        False, 10, 3, False)


def test_back_to_automatic_restores_the_planner_but_keeps_offline(qtbot):
    mine = Settings(auto_fit=False, n_ctx=2048, n_gpu_layers=5, offline=True)
    dialog = LoadSettingsDialog(mine)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.settingsSaved, timeout=1000) as saved:
        dialog.restore_defaults()
        dialog.save()
    s = saved.args[0]
    assert s.auto_fit and s.n_ctx == 0 and s.offline


def test_installed_models_get_badges_off_the_gui_thread(qtbot, make_dialog, installed: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    threads: list[str] = []
    real = fit_jobs.read_gguf

    def spy(path):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(path)

    real_list = fit_jobs.list_all

    def spy_list(dirs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real_list(dirs)

    monkeypatch.setattr(fit_jobs, "read_gguf", spy)
    monkeypatch.setattr(fit_jobs, "list_all", spy_list)  # the folder scan too
    dialog = make_dialog(LAPTOP, wait_listed=False)
    assert dialog.installed.count() == 0  # nothing scanned on the GUI thread
    with qtbot.waitSignal(dialog.installedPlanned, timeout=10_000) as planned:
        pass
    assert planned.args[0] == str(installed)
    assert dialog.installed.item(0).text().endswith(BADGE_CPU)
    assert len(threads) == 2 and threading.main_thread().name not in threads
    # the header read off the GUI thread also gives the model's details
    dialog.installed.setCurrentRow(0)
    details = dialog.details_label.text()
    assert "Architecture: gpt-oss" in details and "parameters" in details
    assert "Trained context: 4,096 tokens" in details and str(installed) in details


def test_catalog_badges_wait_for_machine_detection_on_a_worker(qtbot, make_dialog,
                                                               monkeypatch: pytest.MonkeyPatch):
    seen: list[str] = []

    def fake_detect() -> Machine:
        seen.append(threading.current_thread().name)
        return GPU16

    monkeypatch.setattr(fit_jobs, "detect_machine", fake_detect)
    dialog = make_dialog(machine=None, wait_listed=False)
    assert dialog.table.item(0, 1).text() == CHECKING
    qtbot.waitUntil(lambda: dialog.table.item(0, 1).text() == BADGE_GPU, timeout=10_000)
    assert seen and threading.main_thread().name not in seen


def test_offline_from_the_manager_advanced_button(qtbot, make_dialog, paths: Paths, monkeypatch):
    opened: list[LoadSettingsDialog] = []
    _no_exec(monkeypatch, LoadSettingsDialog, opened)
    dialog = make_dialog()
    assert dialog.download_button.isEnabled()
    dialog.advanced_button.click()
    opened[0].offline_check.setChecked(True)
    with qtbot.waitSignal(dialog.advancedSaved, timeout=1000):
        opened[0].save()
    assert load_settings(paths.settings_file).offline
    assert not dialog.download_button.isEnabled() and not dialog.offline_label.isHidden()


def test_toolbar_opens_the_manager_and_use_loads_with_the_planner(
    qtbot, make_window, installed: Path, monkeypatch: pytest.MonkeyPatch,
):
    engine = RecordingEngine()
    window = make_window(engine)
    window.show()
    opened: list[ModelManagerDialog] = []
    _no_exec(monkeypatch, ModelManagerDialog, opened)
    toolbar = window.findChild(QToolBar, "modelsToolbar")
    assert toolbar is not None and toolbar.isVisible()
    (models,) = [a for a in toolbar.actions() if "Models" in a.text()]
    models.trigger()
    (dialog,) = opened
    qtbot.waitUntil(lambda: dialog.installed.count() == 1, timeout=5000)
    dialog.installed.setCurrentRow(0)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        dialog.use_button.click()
    assert engine.loads == [str(installed)]
    assert engine.configs[-1].auto_fit and engine.configs[-1].n_ctx == 0
    assert not dialog._service.thread.isRunning()  # accepting the dialog joined its threads


def test_first_run_page_offers_the_model_manager(qtbot, make_window, monkeypatch: pytest.MonkeyPatch):
    window = make_window(RecordingEngine())
    window.show()
    opened: list[ModelManagerDialog] = []
    _no_exec(monkeypatch, ModelManagerDialog, opened)
    assert window.welcome.download_button.isVisible()
    qtbot.mouseClick(window.welcome.download_button, Qt.MouseButton.LeftButton)
    (dialog,) = opened
    assert dialog.table.rowCount() >= 1  # the catalog, led by gpt-oss-20b
    dialog.reject()  # joins the dialog's worker threads
    assert not dialog._service.thread.isRunning()
