"""LoRA adapters in the model manager, with real adapter GGUFs: listed, imported (checked off the
GUI thread), refused with a sentence, removed after asking, downloaded from the local Hub."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from fireside.core.config.paths import Paths
from fireside.core.units import human_bytes
from fireside.ui.models import adapters_panel
from tests.helpers.hf_server import HubServer
from tests.helpers.lora import lora_for

REPO = "someone/legal-lora-GGUF"


def _cells(table, row: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [table.item(row, col).text() for col in range(table.columnCount())]


def _adapter_download_form(make_dialog, filename: str):  # type: ignore[no-untyped-def]
    """A model manager with REPO and `filename` filled in and "LoRA adapter" ticked; not started."""
    dialog = make_dialog()
    dialog.repo_edit.setText(REPO)
    dialog.file_edit.setText(filename)
    dialog.adapter_download_check.setChecked(True)
    return dialog


def _truncated(source: Path, dest: Path) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def test_adapters_are_listed_beside_the_models(qtbot, make_dialog, paths: Paths,
                                               tiny_gptoss_path: Path, tmp_path: Path) -> None:
    paths.adapters.mkdir(parents=True)
    legal = lora_for(tiny_gptoss_path, paths.adapters / "legal.gguf", rank=4, alpha=8.0)
    _truncated(legal, paths.adapters / "broken.gguf")
    dialog = make_dialog()
    table = dialog.adapters.table
    qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=10_000)
    assert dialog.installed_tabs.tabText(1) == "LoRA adapters (2)"
    broken, good = _cells(table, 0), _cells(table, 1)  # sorted by file name
    assert good == ["legal.gguf", "gpt-oss", "4", "8", human_bytes(legal.stat().st_size),
                    "attn_k, attn_output, attn_q, attn_v"]
    assert broken[:2] == ["broken.gguf", "can't be used"]
    assert "truncated" in broken[5] or "incomplete" in broken[5], broken
    assert dialog.adapters.empty_label.isHidden()


def test_no_adapters_says_how_to_bring_one(qtbot, make_dialog) -> None:
    dialog = make_dialog()
    qtbot.waitUntil(lambda: not dialog.adapters.empty_label.isHidden(), timeout=10_000)
    assert dialog.installed_tabs.tabText(1) == "LoRA adapters"
    assert "convert_lora_to_gguf.py" in dialog.adapters.empty_label.text()
    assert not dialog.adapters.remove_button.isEnabled()


def test_import_is_checked_off_the_gui_thread_and_a_bad_file_is_refused(
        qtbot, make_dialog, paths: Paths, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    read_on: list[threading.Thread] = []
    real_read = adapters_panel.read_adapter

    def recording_read(path: Path):  # type: ignore[no-untyped-def]
        read_on.append(threading.current_thread())
        return real_read(path)

    monkeypatch.setattr(adapters_panel, "read_adapter", recording_read)
    dialog = make_dialog()
    panel = dialog.adapters
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4)
    for bad, why in ((_truncated(legal, tmp_path / "cut.gguf"), "cut.gguf"),
                     (tiny_gptoss_path, "is a model, not an adapter")):
        with qtbot.waitSignal(panel.imported, timeout=10_000) as done:
            panel.import_file(bad)
            assert panel.status.text().startswith("Checking")
        assert done.args[0] is False
        assert panel.status.text().startswith("Not imported: ") and why in panel.status.text()
        assert "Traceback" not in panel.status.text()
    assert not paths.adapters.exists() or not list(paths.adapters.glob("*.gguf"))
    with qtbot.waitSignal(panel.listed, timeout=10_000), \
            qtbot.waitSignal(panel.imported, timeout=10_000) as done:
        panel.import_file(legal)
    assert done.args[0] is True and "Linked the adapter legal.gguf" in panel.status.text()
    assert (paths.adapters / "legal.gguf").is_symlink()
    assert _cells(panel.table, 0)[:3] == ["legal.gguf", "gpt-oss", "4"]
    assert read_on and all(t is not threading.main_thread() for t in read_on)
    # the same name again is refused, not overwritten
    with qtbot.waitSignal(panel.imported, timeout=10_000) as done:
        panel.import_file(legal)
    assert done.args[0] is False and "already installed" in panel.status.text()


def test_import_copies_when_asked_and_obeys_the_policy(
        qtbot, make_dialog, paths: Paths, tiny_gptoss_path: Path, tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(json.dumps({"allowed_adapters": ["approved.gguf"]}))
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4)
    approved = lora_for(tiny_gptoss_path, tmp_path / "approved.gguf", rank=4, seed=3)
    panel = make_dialog().adapters
    with qtbot.waitSignal(panel.imported, timeout=10_000) as done:
        panel.import_file(legal)
    assert done.args[0] is False and "allowed_adapters" in panel.status.text()
    panel.copy_check.setChecked(True)
    with qtbot.waitSignal(panel.listed, timeout=10_000):
        panel.import_file(approved)
    copied = paths.adapters / "approved.gguf"
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == approved.read_bytes()
    assert "Copied the adapter approved.gguf" in panel.status.text()
    assert panel.table.rowCount() == 1


def test_remove_asks_first_and_keeps_a_linked_file(
        qtbot, make_dialog, paths: Paths, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4)
    paths.adapters.mkdir(parents=True)
    (paths.adapters / "legal.gguf").symlink_to(legal)
    panel = make_dialog().adapters
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=10_000)
    panel.table.selectRow(0)
    assert panel.remove_button.isEnabled()
    asked: list[str] = []
    answer = QMessageBox.StandardButton.No

    def question(parent, title, text, buttons, default):  # type: ignore[no-untyped-def]
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    panel.remove_button.click()
    assert asked and "Only the link" in asked[0]
    assert (paths.adapters / "legal.gguf").is_symlink() and panel.table.rowCount() == 1
    answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(panel.listed, timeout=10_000):
        panel.remove_button.click()
    assert not (paths.adapters / "legal.gguf").exists() and legal.is_file()
    assert panel.table.rowCount() == 0 and panel.status.text() == "Removed the adapter legal.gguf."


@pytest.fixture
def adapter_hub(tiny_gptoss_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    legal = lora_for(tiny_gptoss_path, tmp_path / "hub-legal.gguf", rank=8, alpha=16.0)
    files = {"legal.gguf": legal.read_bytes(), "model.gguf": tiny_gptoss_path.read_bytes()}
    with HubServer({REPO: files}) as state:
        monkeypatch.setenv("HF_ENDPOINT", state.hub_url)
        yield state


def test_an_adapter_downloads_from_the_hub_verified_into_the_adapters(
        qtbot, make_dialog, paths: Paths, adapter_hub) -> None:
    dialog = _adapter_download_form(make_dialog, "legal.gguf")
    with qtbot.waitSignal(dialog.downloadFinished, timeout=10_000) as finished:
        dialog.download_button.click()
    # the list is read again off the GUI thread (the first listing may land in between)
    qtbot.waitUntil(lambda: dialog.adapters.table.rowCount() == 1, timeout=10_000)
    assert finished.args == [str(paths.adapters / "legal.gguf")]
    assert "Downloaded and verified the adapter legal.gguf: LoRA for gpt-oss, rank 8" in \
        dialog.status.text()
    assert dialog.installed_tabs.currentWidget() is dialog.adapters
    assert _cells(dialog.adapters.table, 0)[:4] == ["legal.gguf", "gpt-oss", "8", "16"]
    assert not list(paths.models.glob("*.gguf"))  # not among the models


def test_a_model_downloaded_as_an_adapter_is_refused_and_deleted(
        qtbot, make_dialog, paths: Paths, adapter_hub) -> None:
    dialog = _adapter_download_form(make_dialog, "model.gguf")
    with qtbot.waitSignal(dialog.downloadFailed, timeout=20_000) as failed:
        dialog.download_button.click()
    message, kind = failed.args
    assert kind == "adapter" and "is a model, not an adapter" in message
    assert "deleted" in dialog.status.text()
    assert not list(paths.adapters.rglob("*.gguf")) and dialog.download_button.isEnabled()


def test_an_adapter_the_policy_does_not_list_is_not_downloaded(
        qtbot, make_dialog, tmp_path: Path, adapter_hub) -> None:
    (tmp_path / "policy.json").write_text(json.dumps({"allowed_adapters": ["approved.gguf"]}))
    dialog = _adapter_download_form(make_dialog, "legal.gguf")
    dialog.download_button.click()
    assert "allowed_adapters" in dialog.status.text()
    with adapter_hub.lock:
        assert adapter_hub.log == []  # refused before asking the Hub anything
    assert dialog.download_button.isEnabled()


def test_use_in_this_chat_applies_the_adapter_to_the_composer(
        qtbot, window, paths: Paths, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fireside.ui.models.model_manager import ModelManagerDialog

    paths.adapters.mkdir(parents=True)
    legal = lora_for(tiny_gptoss_path, paths.adapters / "legal.gguf", rank=4)
    _truncated(legal, paths.adapters / "broken.gguf")
    (tmp_path / "policy.json").write_text(json.dumps({"allowed_adapters": ["legal"]}))
    seen: list[bool] = []

    def fake_exec(self: ModelManagerDialog) -> int:
        panel = self.adapters
        qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=10_000)
        assert not panel.use_button.isHidden()
        panel.table.selectRow(0)  # broken.gguf: nothing to apply
        seen.append(panel.use_button.isEnabled())
        panel.table.selectRow(1)
        seen.append(panel.use_button.isEnabled())
        panel.use_button.click()
        assert self.result() == ModelManagerDialog.DialogCode.Accepted
        return 1

    monkeypatch.setattr(ModelManagerDialog, "exec", fake_exec)
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Models" in a.text())
    assert window.chat_actions is not None
    with qtbot.waitSignal(window.chat_actions.adapter_check.checked, timeout=10_000) as checked:
        action.trigger()
    assert seen == [False, True] and checked.args[1] == []
    [use] = window.composer.adapters()
    assert (Path(use.path), use.scale) == (paths.adapters / "legal.gguf", 1.0)
    assert window.composer.adapters_label.text() == "LoRA legal"


def test_a_standalone_model_manager_offers_no_use_in_this_chat(qtbot, make_dialog) -> None:
    dialog = make_dialog()
    assert dialog.adapters.use_button.isHidden()
