"""A chat that outgrows the model's context: the user chooses to leave out its middle, or stop."""

from __future__ import annotations

import pytest

from fireside.core.chat.context_fit import Overflow
from fireside.ui.chat import context_overflow
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait, type_and_send

LONG = "word " * 160  # 800 characters: about 200 of the scripted engine's tokens


@pytest.fixture
def small_window(qtbot, make_window: MakeWindow) -> tuple[MainWindow, ScriptedEngine]:  # type: ignore[no-untyped-def]
    engine = ScriptedEngine(n_ctx=640, reasoning=())
    window = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    return window, engine


def _fill(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    send_and_wait(qtbot, window, "first " + LONG)
    send_and_wait(qtbot, window, "second " + LONG)


def test_leaving_out_keeps_the_system_prompt_and_recent_turns(
    qtbot, small_window: tuple[MainWindow, ScriptedEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    window, engine = small_window
    window.history.set_system_prompt("Answer like a pirate.")
    asked: list[Overflow] = []
    monkeypatch.setattr(context_overflow, "ask_to_leave_out",
                        lambda parent, overflow: asked.append(overflow) or True)
    _fill(qtbot, window)
    assert not asked
    row = send_and_wait(qtbot, window, "third " + LONG)
    assert len(asked) == 1 and asked[0].n_ctx == 640 and asked[0].prompt_tokens >= 639
    sent = engine.requests[-1]
    assert sent.system_prompt == "Answer like a pirate."
    assert sent.messages[-1].text == ("third " + LONG).strip()
    assert sent.messages[0].text.startswith(("second", "third"))  # the oldest turn left out
    assert len(sent.messages) < window.chat_model.rowCount() - 1
    assert window.chat_model.item(row).text == "Hello there! How can I help?"
    assert window.chat_model.rowCount() == 6  # nothing was deleted from the chat
    assert "left out" in window.notice_banner.text() and "still here" in window.notice_banner.text()
    # Asked once per chat: the next long message is shortened without a second question.
    send_and_wait(qtbot, window, "fourth " + LONG)
    assert len(asked) == 1
    assert engine.requests[-1].messages[-1].text.startswith("fourth")


def test_stop_ends_the_reply_with_the_reason_and_keeps_the_chat(
    qtbot, small_window: tuple[MainWindow, ScriptedEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    window, engine = small_window
    monkeypatch.setattr(context_overflow, "ask_to_leave_out", lambda parent, overflow: False)
    _fill(qtbot, window)
    generated = len(engine.requests)
    with qtbot.waitSignal(window.replyFailed, timeout=5000) as blocker:
        type_and_send(qtbot, window, "third " + LONG)
    row, message = blocker.args
    assert "is longer than the model's" in message and "640-token context" in message
    assert window.chat_model.item(row).error == message
    assert len(engine.requests) == generated  # nothing was generated
    assert not window.is_generating and window.composer.text_edit.isEnabled()
    assert window.chat_model.rowCount() == 6  # the chat is kept as it was
    window.new_chat()  # what the message suggests
    send_and_wait(qtbot, window, "short")


def test_a_message_too_long_for_any_context_fails_without_asking(
    qtbot, small_window: tuple[MainWindow, ScriptedEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    window, _engine = small_window
    monkeypatch.setattr(context_overflow, "ask_to_leave_out",
                        lambda parent, overflow: pytest.fail("nothing to offer"))
    with qtbot.waitSignal(window.replyFailed, timeout=5000) as blocker:
        type_and_send(qtbot, window, "huge " + LONG * 4)
    assert "is longer than the model's" in blocker.args[1]


def test_the_question_names_the_sizes_and_both_choices(qtbot, small_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    window, _engine = small_window
    shown: list[QMessageBox] = []

    def fake_exec(box: QMessageBox) -> int:  # the user presses Escape: nothing is clicked
        shown.append(box)
        return 0

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    _fill(qtbot, window)
    with qtbot.waitSignal(window.replyFailed, timeout=5000):
        type_and_send(qtbot, window, "third " + LONG)
    box = shown[0]
    assert [b.text() for b in box.buttons()] == [context_overflow.LEAVE_OUT, context_overflow.STOP]
    assert "640 tokens" in box.informativeText() and "oldest message" in box.informativeText()
    assert box.escapeButton().text() == context_overflow.STOP
