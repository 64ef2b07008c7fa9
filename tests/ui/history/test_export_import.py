"""Export and import from the window: the Chat menu writes Markdown or lossless JSON, and a JSON
export imported into an emptied history exports again byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from fireside.ui.history.export_actions import JSON_FILTER, MARKDOWN_FILTER
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.shell.test_main_window import send_and_wait


def _actions(window: MainWindow) -> dict[str, object]:
    return {a.objectName(): a for a in window.export_actions.actions}


def _save_to(monkeypatch: pytest.MonkeyPatch, path: Path, chosen: str) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), chosen)))


def _branched_chats(qtbot, window: MainWindow, engine: ScriptedEngine) -> None:  # type: ignore[no-untyped-def]
    send_and_wait(qtbot, window, "Name a river")
    engine.answer = ("The Danube.",)
    window.regenerate(1)
    qtbot.waitUntil(lambda: not window.is_generating, timeout=5000)
    window.new_chat()
    send_and_wait(qtbot, window, "Name a mountain <b>please</b>")


def test_export_wipe_import_export_gives_identical_json(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = loaded_window
    _branched_chats(qtbot, w, engine)
    first = tmp_path / "all"
    _save_to(monkeypatch, first, JSON_FILTER)
    _actions(w)["ExportAllChats"].trigger()
    first = first.with_suffix(".json")
    data = json.loads(first.read_text(encoding="utf-8"))
    assert len(data["conversations"]) == 2 and len(data["conversations"][0]["messages"]) == 3
    assert "Saved to" in w.notice_banner.text()

    for conv in w.history.store.conversations():  # type: ignore[union-attr]
        w.history.delete(conv.id)  # type: ignore[union-attr]
    assert w.sidebar.list.count() == 0
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(first), "")))
    _actions(w)["ImportChats"].trigger()
    assert w.sidebar.list.count() == 2
    assert "Added 2 chats" in w.notice_banner.text()
    assert w.chat_model.item(1).text == "The Danube."  # the first imported chat opened, its branch shown

    second = tmp_path / "again.json"
    _save_to(monkeypatch, second, JSON_FILTER)
    _actions(w)["ExportAllChats"].trigger()
    assert second.read_text(encoding="utf-8") == first.read_text(encoding="utf-8")


def test_export_this_chat_as_markdown(
    qtbot, loaded_window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = loaded_window
    assert not _actions(w)["ExportThisChat"].isEnabled()
    send_and_wait(qtbot, w, "Explain <script>tides</script>")
    target = tmp_path / "tides"
    _save_to(monkeypatch, target, MARKDOWN_FILTER)
    _actions(w)["ExportThisChat"].trigger()
    text = target.with_suffix(".md").read_text(encoding="utf-8")
    assert text.startswith("# Explain <script>tides</script>\n")
    assert "<details>\n<summary>Reasoning</summary>" in text and "### Assistant (gpt-oss-20b-mxfp4)" in text


def test_importing_a_file_that_is_not_an_export_explains_why(
    loaded_window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
    _actions(loaded_window)["ImportChats"].trigger()
    assert "notes.json is not valid JSON" in loaded_window.error_banner.text()
    assert loaded_window.history.store.conversations() == []  # type: ignore[union-attr]
