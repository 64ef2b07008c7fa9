"""The main window driven end to end through the scripted engine, as a user would."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel

from fireside.core.chat.conversation import Effort
from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, load_settings, save_settings
from fireside.ui.chat.composer import Mode
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import PLAIN_NOTE, ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow

REASONING = "".join(ScriptedEngine().reasoning)
ANSWER = "".join(ScriptedEngine().answer)


def type_and_send(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    edit = window.composer.text_edit
    edit.setFocus()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def send_and_wait(qtbot, window: MainWindow, text: str = "Hi!") -> int:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.replyFinished, timeout=15_000) as blocker:
        type_and_send(qtbot, window, text)
    return int(blocker.args[0])


# First run and loading


def test_first_run_explains_what_to_do(window: MainWindow) -> None:
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.isVisible()
    assert not window.reasoning_panel.isVisible()  # nothing to show yet
    assert window.welcome.open_button.text() == "Open a model file…"
    labels = window.welcome.findChildren(QLabel)
    texts = " ".join(label.text() for label in labels)
    assert ".gguf" in texts and "gpt-oss-20b" in texts and "download gpt-oss-20b" in texts
    assert window.welcome.download_button.isVisible()
    assert window.status_label.text() == "No model loaded"
    assert not window.composer.text_edit.isEnabled()
    assert not window.composer.send_button.isEnabled()


def test_open_model_button_uses_gguf_file_dialog(
    qtbot, window: MainWindow, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def fake_dialog(parent, title, directory, filter):  # type: ignore[no-untyped-def]
        asked.append(filter)
        return MODEL_PATH, filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        qtbot.mouseClick(window.welcome.open_button, Qt.MouseButton.LeftButton)
    assert "*.gguf" in asked[0]
    assert engine.loads == [MODEL_PATH]
    assert window.actions_.open.shortcut().toString() == "Ctrl+O"


def test_loading_shows_progress_then_model_status(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
        # The request is queued to the worker; until it answers the window says what it's doing.
        assert window.status_label.text() == "Loading gpt-oss-20b-mxfp4…"
        assert window.composer.mode is Mode.LOADING
        assert not window.composer.text_edit.isEnabled()
    assert window.status_label.text().startswith("gpt-oss-20b-mxfp4 · 8,192-token context")
    assert window.stack.currentWidget() is window.transcript
    assert window.composer.text_edit.isEnabled()
    assert window.composer.effort_combo.isEnabled()
    assert not window.notice_banner.isVisible()


def test_load_error_is_shown_inline_and_a_later_load_works(
    qtbot, make_window: MakeWindow
) -> None:
    message = "This file isn't a GGUF model. Choose a .gguf file."
    engine = ScriptedEngine(fail_paths={"/models/broken.gguf": message})
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoadFailed, timeout=5000):
        window.load_model("/models/broken.gguf")
    assert window.error_banner.isVisible()
    assert message in window.error_banner.text()
    assert window.status_label.text() == "No model loaded"
    assert window.stack.currentWidget() is window.welcome
    assert window.welcome.open_button.isEnabled()

    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    assert not window.error_banner.isVisible()
    assert window.model_info is not None
    assert window.composer.text_edit.isEnabled()


def test_plain_model_shows_note_and_disables_effort(qtbot, make_window: MakeWindow) -> None:
    engine = ScriptedEngine(prompt_format="plain", note=PLAIN_NOTE, reasoning=())
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model("/models/base.gguf")
    assert window.notice_banner.isVisible()
    assert PLAIN_NOTE in window.notice_banner.text()
    combo = window.composer.effort_combo
    assert not combo.isEnabled()
    assert "only applies to gpt-oss" in combo.toolTip()
    row = send_and_wait(qtbot, window)
    assert window.transcript.widget_at(row).answer_label.text() == ANSWER
    assert not window.transcript.widget_at(row).reasoning_toggle.isVisible()


def test_reasoning_panel_hides_for_a_model_that_does_not_reason_and_returns_for_gpt_oss(
    qtbot, make_window: MakeWindow, paths: Paths
) -> None:
    engine = ScriptedEngine(prompt_format="plain", note=PLAIN_NOTE, reasoning=())
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model("/models/base.gguf")
    assert not window.reasoning_panel.isVisible()
    assert load_settings(paths.settings_file).show_reasoning_panel is True  # preference kept
    engine.prompt_format = "harmony"
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    assert window.reasoning_panel.isVisible()


def test_last_model_is_reloaded_on_start(
    qtbot, make_window: MakeWindow, paths: Paths, tmp_path: Path
) -> None:
    model = tmp_path / "gpt-oss-20b.gguf"
    model.write_bytes(b"GGUF")
    save_settings(Settings().with_recent_model(str(model)), paths.settings_file)
    engine = ScriptedEngine()
    window = make_window(engine, auto_load_last=True)
    assert window.status_label.text() == "Loading gpt-oss-20b…"
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        pass  # the load was queued by the constructor; the signal can only arrive from here on
    assert engine.loads == [str(model)]


def test_missing_last_model_is_not_reloaded(
    make_window: MakeWindow, paths: Paths, tmp_path: Path
) -> None:
    save_settings(Settings().with_recent_model(str(tmp_path / "gone.gguf")), paths.settings_file)
    window = make_window(ScriptedEngine(), auto_load_last=True)
    assert window.status_label.text() == "No model loaded"
    assert window.stack.currentWidget() is window.welcome


def test_last_model_is_not_loaded_unless_asked(
    make_window: MakeWindow, paths: Paths, tmp_path: Path
) -> None:
    model = tmp_path / "gpt-oss-20b.gguf"
    model.write_bytes(b"GGUF")
    save_settings(Settings().with_recent_model(str(model)), paths.settings_file)
    window = make_window(ScriptedEngine())
    assert window.status_label.text() == "No model loaded"


# Chatting


def test_reply_streams_reasoning_and_answer_into_separate_places(
    qtbot, loaded_window: MainWindow
) -> None:
    window = loaded_window
    row = send_and_wait(qtbot, window, "Hello, who are you?")
    model = window.chat_model
    assert model.item(0).role == "user" and model.item(0).text == "Hello, who are you?"
    message = window.transcript.widget_at(row)
    assert message.answer_label.text() == ANSWER
    assert message.reasoning_view.text() == REASONING
    assert window.reasoning_panel.trace_text() == REASONING
    for shown in (message.answer_label.text(), message.reasoning_view.text(),
                  window.reasoning_panel.trace_text()):
        assert "<|" not in shown
    assert REASONING not in message.answer_label.text()
    assert ANSWER not in message.reasoning_view.text()
    assert ANSWER not in window.reasoning_panel.trace_text()
    # Once the answer has started the thinking block folds away, and a click opens it again.
    assert message.reasoning_toggle.text() == "Thought for 1.2 s"
    assert not message.reasoning_expanded
    assert not message.reasoning_view.isVisible()
    qtbot.mouseClick(message.reasoning_toggle, Qt.MouseButton.LeftButton)
    assert message.reasoning_expanded
    assert message.reasoning_view.isVisible()
    assert "Hello, who are you?" in window.reasoning_panel.subject_label.text()
    assert "4 reasoning tokens" in window.reasoning_panel.meta_label.text()
    assert window.composer.mode is Mode.READY
    assert window.composer.text_edit.toPlainText() == ""
    # The engine only ever ran on the worker thread, never on the GUI thread.
    assert threading.main_thread().name not in _engine(window).threads
    assert len(_engine(window).threads) == 1


def test_footer_shows_reply_stats(qtbot, loaded_window: MainWindow) -> None:
    row = send_and_wait(qtbot, loaded_window)
    footer = loaded_window.transcript.widget_at(row).footer_label
    assert footer.isVisible()
    assert footer.text() == "0.41 s to first token · 23.5 tok/s · 4 reasoning · 4 answer tokens"
    assert not loaded_window.transcript.widget_at(row).empty_label.isVisible()  # it has an answer
    copy = loaded_window.transcript.widget_at(row).copy_button
    assert copy.isVisible()
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == ANSWER  # the answer only, not the reasoning
    assert copy.text() == "Copied"


def test_thinking_block_is_open_while_the_model_only_thinks(
    qtbot, make_window: MakeWindow
) -> None:
    gate = threading.Event()
    engine = ScriptedEngine(gate=gate, gate_after=2)
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    type_and_send(qtbot, window, "Think first")
    qtbot.waitUntil(lambda: window.transcript.count() == 2, timeout=5000)  # the bubble: next pass
    message = window.transcript.widget_at(1)
    # The first delta is sent at once; later ones are batched, so only that one is certain here.
    qtbot.waitUntil(lambda: message.reasoning_view.text() == "The user", timeout=5000)
    assert message.reasoning_toggle.text() == "Thinking…"
    assert message.reasoning_expanded
    assert message.answer_label.text() == ""
    assert message.footer_label.text() == "Working on it…"
    assert window.reasoning_panel.meta_label.text() == "Thinking…"
    with qtbot.waitSignal(window.replyFinished, timeout=5000):
        gate.set()
    assert not message.reasoning_expanded


def test_a_send_lets_the_event_loop_in_before_the_reply_starts(qtbot, loaded_window: MainWindow) -> None:
    """The question shows in one pass of the event loop and the reply's bubble in the next, so a
    key press or a repaint is never held for the whole send (gui_stall's stall at send)."""
    w = loaded_window
    rows_in_between: list[int] = []
    QTimer.singleShot(0, lambda: rows_in_between.append(w.chat_model.rowCount()))
    assert w.send_message("Two passes")
    assert w.chat_model.rowCount() == 1 and w.is_generating  # claimed: nothing else starts now
    assert not w.send_message("A second question meanwhile")
    with qtbot.waitSignal(w.replyFinished, timeout=5000):
        pass
    assert rows_in_between == [1] and w.chat_model.rowCount() == 2


def test_stop_before_the_reply_begins_still_ends_it(qtbot, loaded_window: MainWindow) -> None:
    w = loaded_window
    with qtbot.waitSignal(w.replyFinished, timeout=5000):
        w.send_message("Never mind")
        w.stop_generation()  # same pass: the turn is queued but not yet with the worker
    assert not w.is_generating and w.chat_model.item(1).text == ""
    assert w.history is not None
    reply = w.history.store.active_path(w.history.current_id)[-1]
    assert reply.role == "assistant" and reply.status == "cancelled"


def test_second_message_carries_the_history(qtbot, loaded_window: MainWindow) -> None:
    send_and_wait(qtbot, loaded_window, "First question")
    row = send_and_wait(qtbot, loaded_window, "Second question")
    assert row == 3
    engine_prompt = _engine(loaded_window).prompts[-1]
    assert "First question" in engine_prompt and "Second question" in engine_prompt
    assert ANSWER in engine_prompt
    # The reasoning panel follows the newest reply.
    assert loaded_window.reasoning_panel.row == 3


def test_shift_enter_inserts_a_newline_instead_of_sending(
    qtbot, loaded_window: MainWindow
) -> None:
    edit = loaded_window.composer.text_edit
    qtbot.keyClicks(edit, "line one")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(edit, "line two")
    assert edit.toPlainText() == "line one\nline two"
    assert loaded_window.chat_model.rowCount() == 0
    with qtbot.waitSignal(loaded_window.replyFinished, timeout=5000):
        qtbot.mouseClick(loaded_window.composer.send_button, Qt.MouseButton.LeftButton)
    assert loaded_window.chat_model.item(0).text == "line one\nline two"


def test_message_box_grows_with_its_text(qtbot, loaded_window: MainWindow) -> None:
    composer = loaded_window.composer
    one_line = composer.text_edit.height()
    composer.text_edit.setPlainText("one\ntwo\nthree")
    line = composer.text_edit.fontMetrics().lineSpacing()
    qtbot.waitUntil(lambda: composer.text_edit.height() >= one_line + 2 * line, timeout=2000)
    # The composer grows with it, so the box never slides under the controls below it.
    qtbot.waitUntil(
        lambda: composer.text_edit.geometry().bottom() < composer.send_button.geometry().top(),
        timeout=2000,
    )


def test_transcript_follows_the_reply_unless_the_user_scrolled_up(
    qtbot, make_window: MakeWindow
) -> None:
    engine = ScriptedEngine(answer=tuple(f"Line {i}.\n" for i in range(40)))
    window = make_window(engine)
    window.resize(800, 500)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    bar = window.transcript.verticalScrollBar()
    send_and_wait(qtbot, window, "Count to forty")
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=2000)

    engine.gate = threading.Event()
    engine.gate_after = 2
    type_and_send(qtbot, window, "Again")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    bar.setValue(0)  # the user scrolls up to reread
    with qtbot.waitSignal(window.replyFinished, timeout=5000):
        engine.gate.set()
    assert bar.value() == 0


def test_blank_message_is_not_sent(qtbot, loaded_window: MainWindow) -> None:
    edit = loaded_window.composer.text_edit
    qtbot.keyClicks(edit, "   ")
    assert not loaded_window.composer.send_button.isEnabled()
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert loaded_window.chat_model.rowCount() == 0


def test_effort_reaches_the_prompt_and_is_remembered(
    qtbot, make_window: MakeWindow, engine: ScriptedEngine, paths: Paths
) -> None:
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    combo = window.composer.effort_combo
    assert combo.accessibleName() == "Reasoning effort"
    assert combo.currentText() == "Medium"
    combo.setCurrentIndex(combo.findText("High"))
    send_and_wait(qtbot, window)
    assert "Reasoning: high" in engine.prompts[-1]
    assert load_settings(paths.settings_file).effort == "high"

    window.close()
    again = make_window(ScriptedEngine())
    assert again.composer.effort() is Effort.HIGH
    assert again.composer.effort_combo.currentText() == "High"


def _start_gated_reply(qtbot, make_window: MakeWindow):  # type: ignore[no-untyped-def]
    engine = ScriptedEngine(gate=threading.Event(), gate_after=3)
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    type_and_send(qtbot, window, "Tell me a long story")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    assert window.is_generating
    assert window.composer.send_button.text() == "Stop"
    assert window.composer.send_button.isEnabled()
    return window, engine


def _assert_stopped(window: MainWindow, row: int) -> None:
    message = window.transcript.widget_at(row)
    assert message.footer_label.text().startswith("Stopped · ")
    assert message.reasoning_view.text() == "".join(ScriptedEngine().reasoning[:3])
    # stopped while thinking: the bubble says so rather than sitting empty
    assert message.empty_label.isVisibleTo(message)
    assert "still thinking" in message.empty_label.text()
    assert window.composer.mode is Mode.READY
    assert window.composer.text_edit.isEnabled()
    assert window.composer.send_button.text() == "Send"
    assert not window.is_generating
    # The partial reply is kept for the next turn.
    history = window.chat_model.to_messages()
    assert history[-1].role == "assistant" and history[-1].reasoning


def test_stop_button_ends_the_reply_and_keeps_the_partial_text(
    qtbot, make_window: MakeWindow
) -> None:
    window, _ = _start_gated_reply(qtbot, make_window)
    with qtbot.waitSignal(window.replyFinished, timeout=5000) as blocker:
        qtbot.mouseClick(window.composer.send_button, Qt.MouseButton.LeftButton)
        assert window.composer.send_button.text() == "Stopping…"
    _assert_stopped(window, int(blocker.args[0]))


def test_escape_stops_the_reply(qtbot, make_window: MakeWindow) -> None:
    window, _ = _start_gated_reply(qtbot, make_window)
    with qtbot.waitSignal(window.replyFinished, timeout=5000) as blocker:
        qtbot.keyClick(window.composer.text_edit, Qt.Key.Key_Escape)
    _assert_stopped(window, int(blocker.args[0]))


def test_generation_error_is_shown_in_the_message_and_chat_goes_on(
    qtbot, make_window: MakeWindow
) -> None:
    engine = ScriptedEngine(stream_error=RuntimeError("GPU fell over"), error_after=2)
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    with qtbot.waitSignal(window.replyFailed, timeout=5000) as blocker:
        type_and_send(qtbot, window, "Hi")
    row, message = blocker.args
    assert message == "Something went wrong while generating: GPU fell over"
    widget = window.transcript.widget_at(row)
    assert widget.error_label.isVisible()
    assert widget.error_label.text() == message
    assert widget.reasoning_view.text() == "The user greets me."  # what arrived before the error
    assert window.composer.mode is Mode.READY

    engine.stream_error = None
    row = send_and_wait(qtbot, window, "Try again")
    assert window.transcript.widget_at(row).answer_label.text() == ANSWER
    # The failed reply is left out of the history sent to the model.
    assert "GPU fell over" not in engine.prompts[-1]
    assert engine.prompts[-1].count("<|start|>assistant<|channel|>final") == 0


def test_model_output_is_shown_as_text_not_html(qtbot, make_window: MakeWindow) -> None:
    engine = ScriptedEngine(answer=("<b>bold</b> <img src=x>",), reasoning=("<i>hmm</i>",))
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window)
    message = window.transcript.widget_at(row)
    assert message.answer_label.textFormat() == Qt.TextFormat.PlainText
    assert message.answer_label.text() == "<b>bold</b> <img src=x>"
    assert message.reasoning_view.textFormat() == Qt.TextFormat.PlainText
    assert not message.answer_label.openExternalLinks()


def test_clicking_a_message_shows_its_reasoning(qtbot, make_window: MakeWindow) -> None:
    engine = ScriptedEngine(reasoning=("First thoughts.",))
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    send_and_wait(qtbot, window, "one")
    engine.reasoning = ("Second thoughts.",)
    send_and_wait(qtbot, window, "two")
    assert window.reasoning_panel.trace_text() == "Second thoughts."
    first = window.transcript.widget_at(1)
    qtbot.mouseClick(first.answer_label, Qt.MouseButton.LeftButton)
    assert window.reasoning_panel.trace_text() == "First thoughts."
    assert window.transcript.selected_row == 1
    assert "“one”" in window.reasoning_panel.subject_label.text()


def test_reasoning_panel_toggle_is_remembered(
    qtbot, loaded_window: MainWindow, paths: Paths
) -> None:
    action = loaded_window.actions_.panel
    assert loaded_window.reasoning_panel.isVisible()
    action.trigger()
    assert not loaded_window.reasoning_panel.isVisible()
    assert load_settings(paths.settings_file).show_reasoning_panel is False


def test_hidden_reasoning_panel_stays_hidden_next_time(
    qtbot, make_window: MakeWindow, paths: Paths
) -> None:
    save_settings(Settings(show_reasoning_panel=False), paths.settings_file)
    window = make_window(ScriptedEngine())
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    assert not window.reasoning_panel.isVisible()
    assert not window.actions_.panel.isChecked()
    window.actions_.panel.trigger()
    assert window.reasoning_panel.isVisible()
    assert load_settings(paths.settings_file).show_reasoning_panel is True


def test_new_chat_clears_the_transcript(qtbot, loaded_window: MainWindow) -> None:
    send_and_wait(qtbot, loaded_window)
    loaded_window.actions_.new_chat.trigger()
    assert loaded_window.chat_model.rowCount() == 0
    assert loaded_window.transcript.count() == 0
    assert loaded_window.reasoning_panel.trace_text() == ""


def test_every_control_has_an_accessible_name(loaded_window: MainWindow) -> None:
    composer = loaded_window.composer
    for widget in (composer.text_edit, composer.effort_combo, composer.send_button,
                   loaded_window.welcome.open_button, loaded_window.reasoning_panel.trace_view,
                   loaded_window.status_label, loaded_window.transcript):
        assert widget.accessibleName(), widget


# Shutdown


def test_closing_mid_generation_shuts_down_cleanly(qtbot, make_window: MakeWindow) -> None:
    window, engine = _start_gated_reply(qtbot, make_window)
    window.close()
    assert not window.isVisible()
    assert not window._thread.isRunning()
    assert engine.info is None  # the model was released after the thread stopped
    assert engine.gate is not None and not engine.gate.is_set()  # stopped by cancel, not the gate


def _engine(window: MainWindow) -> ScriptedEngine:
    engine = window.worker._engine
    assert isinstance(engine, ScriptedEngine)
    return engine
