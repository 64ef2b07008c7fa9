"""Saved chats in the window: every exchange reaches the store, the last chat reopens, edits and
regenerations branch with "‹ 2/3 ›", and the sidebar renames, pins, deletes (with undo) and
searches. Real SQLite under the test's FIRESIDE_HOME; the scripted engine plays the replies."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from fireside.core.history.store import Store
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import DEFAULT_ANSWER, ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait

ANSWER = "".join(ScriptedEngine().answer)
REASONING = "".join(ScriptedEngine().reasoning)


def _store(window: MainWindow) -> Store:
    assert window.history is not None
    return window.history.store


def _texts(window: MainWindow) -> list[str]:
    return [window.chat_model.item(r).text for r in range(window.chat_model.rowCount())]


def test_each_exchange_is_saved_with_stats_and_listed(qtbot, loaded_window: MainWindow) -> None:
    send_and_wait(qtbot, loaded_window, "How do tides work?")
    send_and_wait(qtbot, loaded_window, "And spring tides?")
    store = _store(loaded_window)
    [conv] = store.conversations()
    assert conv.title == "How do tides work?" and conv.model == "gpt-oss-20b-mxfp4"
    path = store.active_path(conv.id)
    assert [m.role for m in path] == ["user", "assistant", "user", "assistant"]
    assert path[1].text == ANSWER and path[1].reasoning == REASONING and path[1].status == "done"
    assert path[1].stats["answer_tokens"] == 4 and path[1].effort == "medium"
    sidebar = loaded_window.sidebar
    assert sidebar.list.count() == 1 and sidebar.list.item(0).text() == "How do tides work?"
    assert sidebar.list.currentRow() == 0


def test_the_last_open_chat_comes_back_after_restart(
    qtbot, make_window: MakeWindow, engine: ScriptedEngine
) -> None:
    first = make_window(engine)
    with qtbot.waitSignal(first.modelLoaded, timeout=5000):
        first.load_model(MODEL_PATH)
    send_and_wait(qtbot, first, "Remember the milk")
    first.close()
    second = make_window(ScriptedEngine())
    assert _texts(second) == ["Remember the milk", ANSWER]
    assert second.chat_model.item(1).reasoning == REASONING
    assert second.chat_model.item(1).stats is not None
    assert second.history is not None and second.history.current_id == first.history.current_id


def test_regenerate_keeps_the_old_reply_as_a_branch(qtbot, loaded_window: MainWindow,
                                                    engine: ScriptedEngine) -> None:
    send_and_wait(qtbot, loaded_window, "Name a colour")
    engine.answer, engine.reasoning = ("Blue.",), ("Pick another.",)
    button = loaded_window.transcript.widget_at(1).branch_bar.action
    assert button.text() == "Regenerate" and button.isVisible()
    with qtbot.waitSignal(loaded_window.replyFinished, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert _texts(loaded_window) == ["Name a colour", "Blue."]
    bar = loaded_window.transcript.widget_at(1).branch_bar
    assert bar.position.text() == "2/2" and bar.previous.isEnabled() and not bar.next.isEnabled()
    qtbot.mouseClick(bar.previous, Qt.MouseButton.LeftButton)
    assert _texts(loaded_window) == ["Name a colour", ANSWER]
    assert loaded_window.chat_model.item(1).reasoning == REASONING  # reasoning stays with its branch
    assert loaded_window.transcript.widget_at(1).branch_bar.position.text() == "1/2"
    store = _store(loaded_window)
    cid = store.conversations()[0].id
    assert len(store.messages(cid)) == 3  # one question, two replies


def test_editing_a_question_branches_and_keeps_what_followed(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_and_wait(qtbot, loaded_window, "Capital of Austrailia?")
    send_and_wait(qtbot, loaded_window, "Population?")
    monkeypatch.setattr(QInputDialog, "getMultiLineText",
                        staticmethod(lambda *a, **k: ("Capital of Australia?", True)))
    with qtbot.waitSignal(loaded_window.replyFinished, timeout=5000):
        qtbot.mouseClick(loaded_window.transcript.widget_at(0).branch_bar.action, Qt.MouseButton.LeftButton)
    assert _texts(loaded_window) == ["Capital of Australia?", ANSWER]
    assert loaded_window.transcript.widget_at(0).branch_bar.position.text() == "2/2"
    assert "Capital of Austrailia" not in engine.prompts[-1]  # the edit replaced the old question
    loaded_window.history.switch_branch(0, -1)  # type: ignore[union-attr]
    assert _texts(loaded_window) == ["Capital of Austrailia?", ANSWER, "Population?", ANSWER]


def test_stopped_reply_is_saved_as_cancelled_with_its_partial_text(
    qtbot, make_window: MakeWindow
) -> None:
    engine = ScriptedEngine(gate=threading.Event(), gate_after=5)
    window = make_window(engine)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    window.send_message("Go slowly")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    with qtbot.waitSignal(window.replyFinished, timeout=5000):
        window.stop_generation()
    reply = _store(window).active_path(window.history.current_id)[-1]  # type: ignore[union-attr]
    assert reply.status == "cancelled" and reply.text == "Hello"


def test_sidebar_rename_pin_delete_undo_and_new_chat(
    qtbot, loaded_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = loaded_window
    sidebar = w.sidebar
    send_and_wait(qtbot, w, "First chat")
    first = w.history.current_id  # type: ignore[union-attr]
    w.actions_.new_chat.trigger()  # Ctrl+N
    assert w.history.current_id == 0 and w.chat_model.rowCount() == 0  # type: ignore[union-attr]
    send_and_wait(qtbot, w, "Second chat")
    assert [sidebar.list.item(r).text() for r in range(2)] == ["Second chat", "First chat"]
    w.history.set_pinned(first, True)  # type: ignore[union-attr]
    assert sidebar.list.item(0).text() == "★ First chat"
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("  Groceries  ", True)))
    sidebar.rename(first)
    assert sidebar.list.item(0).text() == "★ Groceries"
    before = _store(w).messages(first)
    sidebar.delete(first)
    assert sidebar.list.count() == 1 and sidebar.undo_button.isVisible()
    assert "Groceries" in sidebar.undo_label.text()
    qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert sidebar.list.item(0).text() == "★ Groceries" and not sidebar.undo_button.isVisible()
    restored = _store(w).conversations()[0]
    after = _store(w).messages(restored.id)
    assert [(m.role, m.text, m.reasoning, m.stats) for m in after] == \
        [(m.role, m.text, m.reasoning, m.stats) for m in before]


def test_ctrl_k_searches_and_opens_the_hit(qtbot, loaded_window: MainWindow) -> None:
    w = loaded_window
    sidebar = w.sidebar
    send_and_wait(qtbot, w, "Tell me about volcanoes")
    send_and_wait(qtbot, w, "Which volcano is tallest?")
    w.actions_.new_chat.trigger()
    send_and_wait(qtbot, w, "Knitting patterns")
    qtbot.keyClick(w, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert sidebar.search_box.hasFocus()
    qtbot.keyClicks(sidebar.search_box, "tallest")
    assert sidebar.list.count() == 1  # one row per chat
    assert sidebar.list.item(0).text() == "Tell me about volcanoes\n“Which volcano is tallest?”"
    assert sidebar.result_label.isVisible() and sidebar.result_label.text() == "1 chat matches"
    sidebar.list.itemClicked.emit(sidebar.list.item(0))
    assert _texts(w)[0] == "Tell me about volcanoes"
    assert w.transcript.selected_row == 2  # the matching message itself is selected, in view
    hit = w.transcript.widget_at(2).answer_label.labels()[0]
    assert hit.hasSelectedText() and hit.selectedText() == "tallest"  # the word is highlighted
    sidebar.search_box.setText("greet")  # only in the reasoning
    assert sidebar.list.item(0).text() == "No chats match your search."
    assert not sidebar.result_label.isVisible()  # the list says it
    sidebar.reasoning_box.setChecked(True)
    assert "(in the reasoning)" in sidebar.list.item(0).text()
    sidebar.list.itemClicked.emit(sidebar.list.item(0))
    row = w.transcript.selected_row
    assert w.transcript.widget_at(row).reasoning_expanded  # opened to show where it matched
    assert w.transcript.widget_at(row).reasoning_view.labels()[0].selectedText().lower() == "greet"
    sidebar.search_box.clear()
    assert not sidebar.result_label.isVisible() and sidebar.list.count() == 2


def test_context_use_is_shown_after_a_reply_and_on_reopening(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine
) -> None:
    meter = loaded_window.context_meter
    assert meter.text() == "Context: 0 of 8,192 tokens (0%)"
    send_and_wait(qtbot, loaded_window, "Hello")
    stats = loaded_window.chat_model.item(1).stats
    used = stats.prompt_tokens + stats.reasoning_tokens + stats.answer_tokens
    assert used > 8 and meter.text() == f"Context: {used:,} of 8,192 tokens ({round(100 * used / 8192)}%)"
    cid = loaded_window.history.current_id  # type: ignore[union-attr]
    loaded_window.new_chat()
    assert meter.text().startswith("Context: 0 of")
    loaded_window.history.open(cid)  # type: ignore[union-attr]
    assert meter.used == used
    meter.set_used(7000)
    assert meter.almost_full and meter.text() == "Context almost full: 7,000 of 8,192 tokens"


def test_a_500_message_chat_opens_with_only_the_newest_rows_built(
    qtbot, loaded_window: MainWindow
) -> None:
    from fireside.ui.chat.transcript import EARLIER_CHUNK, INITIAL_ROWS

    store = _store(loaded_window)
    cid = store.create_conversation(title="Long one")
    parent = None
    for n in range(250):
        parent = store.add_message(cid, parent, "user", f"question {n}")
        parent = store.add_message(cid, parent, "assistant", f"**answer** {n}")
    loaded_window.history.open(cid)  # type: ignore[union-attr]
    transcript = loaded_window.transcript
    assert transcript.count() == 500 and transcript.unbuilt_rows == 500 - INITIAL_ROWS
    assert transcript.widget_at(499).answer_label.text() == "**answer** 249"
    button = transcript.earlier_button
    assert button.isVisible() and button.text() == f"Show earlier messages ({500 - INITIAL_ROWS} more)"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert transcript.unbuilt_rows == 500 - INITIAL_ROWS - EARLIER_CHUNK
    assert transcript.widget_at(0).answer_label.text() == "question 0"  # builds the rest on demand
    assert transcript.unbuilt_rows == 0 and not button.isVisible()
    layout_order = [transcript._column.itemAt(i).widget() for i in range(2, 502)]
    assert layout_order == [transcript.widget_at(r) for r in range(500)]
    send_and_wait(qtbot, loaded_window, "one more")
    assert transcript.widget_at(501).answer_label.text() == ANSWER


def test_a_streaming_reply_reaches_the_disk_before_it_finishes(
    qtbot, make_window: MakeWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What survives a crash mid-reply: another connection already sees the partial row."""
    import sqlite3

    from fireside.core.chat.session import ChatSession

    monkeypatch.setattr(ChatSession, "flush_interval_s", 0.0)
    gate = threading.Event()
    engine = ScriptedEngine(gate=gate, gate_after=6)  # stops after the reasoning and two pieces
    window = make_window(engine)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    window.send_message("Stream slowly")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    item = window.chat_model.item(1)
    qtbot.waitUntil(lambda: bool(item.reasoning), timeout=5000)  # the first piece shows at once
    # Everything the engine produced before it paused is on disk already, marked partial (the
    # service saves on the worker thread; the window's view catches up in its own time).
    reader = sqlite3.connect(_store(window).path)
    try:
        row = reader.execute("SELECT text, reasoning, status FROM messages "
                             "WHERE role = 'assistant'").fetchone()
    finally:
        reader.close()
    assert row == ("".join(DEFAULT_ANSWER[:2]), REASONING, "partial")
    with qtbot.waitSignal(window.replyFinished, timeout=5000):
        gate.set()
    assert _store(window).active_path(window.history.current_id)[-1].status == "done"  # type: ignore[union-attr]


def test_switching_chats_waits_while_a_reply_is_written(qtbot, make_window: MakeWindow) -> None:
    """Opening another chat mid-reply would leave the streaming reply half-saved forever."""
    gate = threading.Event()
    engine = ScriptedEngine(gate=gate, gate_after=3)
    window = make_window(engine)
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    other = _store(window).create_conversation(title="Elsewhere")
    window.history.conversationsChanged.emit()  # type: ignore[union-attr]  # made behind its back
    window.send_message("Take your time")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    sidebar = window.sidebar

    def click_elsewhere() -> None:
        item = next(sidebar.list.item(r) for r in range(sidebar.list.count())
                    if sidebar.list.item(r).text() == "Elsewhere")
        sidebar.list.itemClicked.emit(item)

    click_elsewhere()
    assert window.history.current_id != other  # type: ignore[union-attr]
    with qtbot.waitSignal(window.replyFinished, timeout=5000):
        gate.set()
    reply = _store(window).active_path(window.history.current_id)[-1]  # type: ignore[union-attr]
    assert reply.status == "done" and reply.text == ANSWER
    click_elsewhere()
    assert window.history.current_id == other  # type: ignore[union-attr]


def test_deleting_a_message_removes_what_follows_and_keeps_other_versions(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    w = loaded_window
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
                    QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: next(answers)))
    send_and_wait(qtbot, w, "First")
    send_and_wait(qtbot, w, "Second")
    delete = w.transcript.widget_at(2).branch_bar.delete
    assert delete.isVisible()
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)  # "No": nothing happens
    assert _texts(w) == ["First", ANSWER, "Second", ANSWER]
    qtbot.mouseClick(w.transcript.widget_at(2).branch_bar.delete, Qt.MouseButton.LeftButton)
    assert _texts(w) == ["First", ANSWER]
    engine.answer = ("Other.",)
    with qtbot.waitSignal(w.replyFinished, timeout=5000):
        qtbot.mouseClick(w.transcript.widget_at(1).branch_bar.action, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.transcript.widget_at(1).branch_bar.delete, Qt.MouseButton.LeftButton)
    assert _texts(w) == ["First", ANSWER]  # the older version takes its place
    cid = w.history.current_id  # type: ignore[union-attr]
    assert [m.text for m in _store(w).messages(cid)] == ["First", ANSWER]


def test_each_chat_keeps_its_own_system_prompt(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = loaded_window
    action = {a.objectName(): a for a in w.chat_actions.actions}["SystemPromptForThisChat"]
    assert not action.isEnabled()  # nothing saved yet to attach it to
    send_and_wait(qtbot, w, "Bonjour")
    monkeypatch.setattr(QInputDialog, "getMultiLineText",
                        staticmethod(lambda *a, **k: ("Answer in French.", True)))
    action.trigger()
    send_and_wait(qtbot, w, "Encore")
    assert "Answer in French." in engine.prompts[-1]
    french = w.history.current_id  # type: ignore[union-attr]
    w.new_chat()
    send_and_wait(qtbot, w, "Hello")
    assert "Answer in French." not in engine.prompts[-1]
    w.history.open(french)  # type: ignore[union-attr]
    send_and_wait(qtbot, w, "Et alors?")
    assert "Answer in French." in engine.prompts[-1]


def test_ctrl_shift_c_copies_the_last_answer(qtbot, loaded_window: MainWindow) -> None:
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText("")
    send_and_wait(qtbot, loaded_window, "Hi")
    qtbot.keyClick(loaded_window, Qt.Key.Key_C,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert QGuiApplication.clipboard().text() == ANSWER


def test_a_history_that_cannot_be_written_says_so_and_the_chat_goes_on(
    qtbot, loaded_window: MainWindow
) -> None:
    w = loaded_window
    store = _store(w)
    store.close()  # stands in for a disk that went away
    send_and_wait(qtbot, w, "Still there?")
    assert _texts(w) == ["Still there?", ANSWER]
    assert "could not save this chat" in w.error_banner.text()


def test_a_preset_starts_a_new_chat_with_its_prompt_and_effort(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fireside.core.chat.conversation import Effort

    w = loaded_window
    actions = {a.objectName(): a for a in w.chat_actions.actions}
    send_and_wait(qtbot, w, "Hi")
    monkeypatch.setattr(QInputDialog, "getMultiLineText", staticmethod(lambda *a, **k: ("Be terse.", True)))
    actions["SystemPromptForThisChat"].trigger()
    w.composer.set_effort(Effort.HIGH)
    _answer_preset_dialog(monkeypatch, " Terse ")
    actions["SavePreset"].trigger()
    assert "“Terse”" in w.notice_banner.text()
    w.composer.set_effort(Effort.LOW)
    menu = w.chat_actions.presets_menu
    menu.aboutToShow.emit()
    [terse] = [a for a in menu.actions() if a.text() == "Terse"]
    terse.trigger()
    assert w.history.current_id == 0 and w.chat_model.rowCount() == 0  # type: ignore[union-attr]
    assert w.composer.effort() is Effort.HIGH
    send_and_wait(qtbot, w, "Go")
    assert "Be terse." in engine.prompts[-1] and "Reasoning: high" in engine.prompts[-1]
    assert _store(w).conversation(w.history.current_id).system_prompt == "Be terse."  # type: ignore[union-attr]


def _answer_preset_dialog(monkeypatch: pytest.MonkeyPatch, name: str,
                          temperature: float | None = None) -> None:
    """Fill in the save-preset dialog as a person would, then press Save."""
    from PySide6.QtWidgets import QDialog

    from fireside.ui.history.chat_actions import PresetDialog

    def answer(dialog: PresetDialog) -> int:
        dialog.name_edit.setText(name)
        if temperature is not None:
            dialog.model_defaults_check.setChecked(False)
            assert dialog.temperature_spin.isEnabled()
            dialog.temperature_spin.setValue(temperature)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(PresetDialog, "exec", answer)


def test_a_preset_with_its_own_sampling_applies_until_a_plain_new_chat(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fireside.core.chat.conversation import Sampling
    from fireside.core.history.presets import load_presets

    w = loaded_window
    actions = {a.objectName(): a for a in w.chat_actions.actions}
    _answer_preset_dialog(monkeypatch, "Careful", temperature=0.2)
    actions["SavePreset"].trigger()
    [saved] = load_presets(_store(w))
    assert (saved.temperature, saved.top_p, saved.top_k, saved.min_p) == (0.2, 1.0, 0, 0.0)
    menu = w.chat_actions.presets_menu
    menu.aboutToShow.emit()
    [careful] = [a for a in menu.actions() if a.text() == "Careful"]
    careful.trigger()
    send_and_wait(qtbot, w, "Go")
    assert engine.requests[-1].sampling == Sampling(temperature=0.2, top_p=1.0, top_k=0, min_p=0.0)
    w.actions_.new_chat.trigger()
    send_and_wait(qtbot, w, "Again")
    assert engine.requests[-1].sampling is None  # the model's recommended settings


def test_a_preset_left_on_the_model_settings_keeps_the_model_defaults(
    qtbot, loaded_window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fireside.core.history.presets import load_presets

    w = loaded_window
    actions = {a.objectName(): a for a in w.chat_actions.actions}
    _answer_preset_dialog(monkeypatch, "Plain")
    actions["SavePreset"].trigger()
    [saved] = load_presets(_store(w))
    assert saved.uses_model_sampling
    menu = w.chat_actions.presets_menu
    menu.aboutToShow.emit()
    [plain] = [a for a in menu.actions() if a.text() == "Plain"]
    plain.trigger()
    send_and_wait(qtbot, w, "Go")
    assert engine.requests[-1].sampling is None


def test_a_send_moves_its_chat_to_the_top_without_rebuilding_the_list(
    qtbot, loaded_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = loaded_window
    assert w.history is not None
    sidebar, store = w.sidebar, _store(w)
    pinned = store.create_conversation(title="Pinned")
    store.update_conversation(pinned, pinned=True)
    older = store.create_conversation(title="Older")
    store.add_message(older, None, "user", "An old question")
    store.create_conversation(title="Newer")
    w.history.conversationsChanged.emit()
    w.history.open(older)
    rebuilt: list[int] = []
    refresh = sidebar.refresh
    monkeypatch.setattr(sidebar, "refresh", lambda: (rebuilt.append(1), refresh()))
    w.history.conversationsChanged.disconnect()
    w.history.conversationsChanged.connect(sidebar.refresh)
    seen: list[list[str]] = []  # the sidebar as each saved message reached it
    w.history.conversationTouched.connect(
        lambda _cid: seen.append([sidebar.list.item(r).text() for r in range(sidebar.list.count())]))

    send_and_wait(qtbot, w, "A new question")
    assert seen and all(order == ["★ Pinned", "Older", "Newer"] for order in seen)
    assert rebuilt == [1]  # once, when the reply ended; not once per saved message
    assert [c.title for c in store.conversations()] == ["Pinned", "Older", "Newer"]

    w.actions_.new_chat.trigger()
    seen.clear()
    send_and_wait(qtbot, w, "Brand new")
    assert seen[0] == ["★ Pinned", "New chat", "Older", "Newer"]  # shown before its title is saved
    assert [sidebar.list.item(r).text() for r in range(4)] == ["★ Pinned", "Brand new", "Older", "Newer"]
    assert sidebar.list.currentRow() == 1
