"""The model manager dialog against the local Hub look-alike: catalog, download, failures, import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QInputDialog

from fireside.core.config.paths import Paths
from fireside.core.config.secrets import TokenStore
from fireside.core.config.settings import Settings, save_settings
from fireside.core.models.catalog import CATALOG
from fireside.core.models.fit_planner import BADGE_GPU, BADGE_NO, Machine
from fireside.ui.models.model_manager import ModelManagerDialog
from tests.helpers.hf_server import HubServer

GiB = 1 << 30
REPO, FILE = "org/tiny-GGUF", "tiny.gguf"
GPU16 = Machine(32 * GiB, "CUDA", 15 * GiB)


@pytest.fixture
def hub(tiny_gptoss_path: Path, monkeypatch: pytest.MonkeyPatch):
    with HubServer({REPO: {FILE: tiny_gptoss_path.read_bytes()}}) as state:
        monkeypatch.setenv("HF_ENDPOINT", state.hub_url)
        yield state


def _download(qtbot, dialog: ModelManagerDialog, signal: str = "downloadFinished"):  # type: ignore[no-untyped-def]
    dialog.repo_edit.setText(REPO)
    dialog.file_edit.setText(FILE)
    with qtbot.waitSignal(getattr(dialog, signal), timeout=10_000) as blocker:
        dialog.download_button.click()
    return blocker.args


def test_catalog_leads_with_ggml_org_and_shows_fit_badges(make_dialog):
    dialog = make_dialog()
    assert dialog.table.rowCount() == len(CATALOG)
    assert dialog.table.item(0, 5).text() == "gpt-oss-20b-mxfp4.gguf"
    assert dialog.table.item(0, 1).text() == BADGE_GPU
    small = make_dialog(Machine(8 * GiB))
    assert small.table.item(0, 1).text() == BADGE_NO
    assert "Needs about" in small.table.item(0, 1).toolTip()


def test_download_verifies_and_lists_the_model(qtbot, make_dialog, hub):
    dialog = make_dialog()
    (path,) = _download(qtbot, dialog)
    assert Path(path).read_bytes()[:4] == b"GGUF"
    assert "Downloaded and verified" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.installed.count() == 1, timeout=5000)
    assert REPO in dialog.installed.item(0).text()
    with qtbot.waitSignal(dialog.modelChosen, timeout=1000) as chosen:
        dialog.installed.setCurrentRow(0)
        dialog.use_button.click()
    assert chosen.args == [path]


def test_verify_failure_says_so_and_offers_a_retry(qtbot, make_dialog, hub):
    hub.faults.corrupt = True
    dialog = make_dialog()
    _message, kind = _download(qtbot, dialog, "downloadFailed")
    assert kind == "verify" and "does not match" in dialog.status.text()
    assert dialog.download_button.text() == "Try again" and dialog.download_button.isEnabled()
    assert dialog.installed.count() == 0


def test_pause_then_resume_continues_from_the_part(qtbot, make_dialog, hub):
    hub.faults.hold_at(100_000)  # the tiny model is bigger: the pause lands before it completes
    dialog = make_dialog()
    dialog.repo_edit.setText(REPO)
    dialog.file_edit.setText(FILE)
    with qtbot.waitSignal(dialog.downloadProgressed, timeout=10_000,
                          check_params_cb=lambda p: p.phase == "downloading" and p.done > 50_000):
        dialog.download_button.click()
    assert dialog.pause_button.isEnabled()
    with qtbot.waitSignal(dialog.downloadFailed, timeout=10_000) as paused:
        dialog.pause_button.click()
    assert paused.args[1] == "paused" and dialog.download_button.text() == "Resume"
    hub.faults.release()
    with qtbot.waitSignal(dialog.downloadFinished, timeout=10_000):
        dialog.download_button.click()
    ranges = [r.range for r in hub.byte_requests()]
    assert ranges[0] == "bytes=0-" and ranges[-1] != "bytes=0-"
    assert 50_000 < int(ranges[-1].removeprefix("bytes=").rstrip("-")) <= 100_000


def test_token_prompt_keeps_the_token_in_memory_without_a_keyring(
    qtbot, make_dialog, tiny_gptoss_path: Path, monkeypatch: pytest.MonkeyPatch,
    fireside_home: Path,
):
    asked: list[str] = []

    def fake_get_text(parent, title, label, echo):  # type: ignore[no-untyped-def]
        asked.append(label)
        return "hf_dialog_secret", True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(fake_get_text))
    with HubServer({REPO: {FILE: tiny_gptoss_path.read_bytes()}}, token="hf_dialog_secret") as h:
        monkeypatch.setenv("HF_ENDPOINT", h.hub_url)
        tokens = TokenStore(fail.Keyring())
        dialog = make_dialog(tokens=tokens)
        _download(qtbot, dialog)  # fails with auth, prompts, retries, finishes
    assert len(asked) == 1 and "memory only" in asked[0]
    assert tokens.get() == "hf_dialog_secret"
    for f in fireside_home.rglob("*"):
        if f.is_file() and f.suffix != ".gguf":
            assert "hf_dialog_secret" not in f.read_text(errors="ignore")


def test_importing_a_corrupt_file_adds_nothing(qtbot, make_dialog, tiny_gptoss_path: Path, tmp_path: Path):
    dialog = make_dialog()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    assert not dialog.import_file(bad)
    assert "Not imported" in dialog.status.text() and dialog.installed.count() == 0
    with qtbot.waitSignal(dialog.installedListed, timeout=5000):
        assert dialog.import_file(tiny_gptoss_path)
    assert dialog.installed.count() == 1 and "linked" in dialog.installed.item(0).text()


def test_offline_mode_disables_downloads(make_dialog, paths: Paths, hub):
    save_settings(Settings(offline=True), paths.settings_file)
    dialog = make_dialog()
    assert not dialog.download_button.isEnabled() and not dialog.offline_label.isHidden()
    dialog.start_download()
    assert "Offline mode is on" in dialog.status.text()
    assert hub.log == []


def test_file_menu_opens_the_model_manager(window, monkeypatch: pytest.MonkeyPatch):
    opened: list[ModelManagerDialog] = []

    def fake_exec(self: ModelManagerDialog) -> int:
        opened.append(self)
        self.reject()
        return 0

    monkeypatch.setattr(ModelManagerDialog, "exec", fake_exec)
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Models" in a.text())
    action.trigger()
    assert len(opened) == 1 and not opened[0]._service.thread.isRunning()


def test_any_repo_lists_its_gguf_files(qtbot, make_dialog, hub):
    dialog = make_dialog()
    dialog.repo_edit.setText(REPO)
    with qtbot.waitSignal(dialog.filesListed, timeout=10_000) as listed:
        dialog.list_button.click()
    assert listed.args[1][0][0] == FILE
    assert dialog.file_edit.text() == FILE and dialog.files_combo.count() == 1


def test_paused_download_is_listed_after_a_restart(qtbot, make_dialog, hub):
    hub.faults.hold_at(100_000)  # released when the hub closes: the pause lands first
    dialog = make_dialog()
    dialog.repo_edit.setText(REPO)
    dialog.file_edit.setText(FILE)
    with qtbot.waitSignal(dialog.downloadProgressed, timeout=10_000,
                          check_params_cb=lambda p: p.phase == "downloading" and p.done > 0):
        dialog.download_button.click()
    with qtbot.waitSignal(dialog.downloadFailed, timeout=10_000):
        dialog.pause_button.click()
    again = make_dialog()
    texts = [again.installed.item(i).text() for i in range(again.installed.count())]
    assert any("paused download" in t and FILE in t for t in texts)


def test_policy_that_forbids_downloads_refuses_without_asking_the_hub(make_dialog, hub):
    Path(os.environ["FIRESIDE_POLICY_FILE"]).write_text('{"allow_model_downloads": false}',
                                                       encoding="utf-8")
    dialog = make_dialog()
    assert not dialog.download_button.isEnabled() and not dialog.list_button.isEnabled()
    assert "allow_model_downloads" in dialog.offline_label.text()
    assert not dialog.offline_label.isHidden()
    dialog.start_download()
    assert "allow_model_downloads" in dialog.status.text()
    dialog.repo_edit.setText("org/repo")
    dialog.list_repo_files()
    assert "organisation" in dialog.status.text()
    assert hub.log == []


def test_shared_models_are_listed_read_only(make_dialog, tiny_gptoss_path: Path):
    shared = Path(os.environ["FIRESIDE_SHARED_MODELS_DIR"])
    shared.mkdir(parents=True)
    (shared / "team.gguf").write_bytes(tiny_gptoss_path.read_bytes())
    dialog = make_dialog()
    [row] = [i for i in range(dialog.installed.count()) if "team.gguf" in dialog.installed.item(i).text()]
    assert "shared on this computer, read-only" in dialog.installed.item(row).text()
    assert not dialog.remove_button.isEnabled()  # nothing selected yet
    dialog.installed.setCurrentRow(row)
    assert not dialog.remove_button.isEnabled()
    assert "only an administrator" in dialog.remove_button.toolTip()
    dialog._remove_selected()  # even if asked, a user never deletes a shared file
    assert (shared / "team.gguf").is_file()
