"""When the next prompt will not fit the model's context: ask, instead of failing.

The conversation service (core/chat/session.py) asks through the worker's `overflowed` signal,
with a ready shortened request (core/chat/context_fit.py: the system prompt and the most recent
turns, the oldest turns in between left out), and waits on its own thread. The user chooses:
leave those out for this reply, or stop. Choosing to leave them out is remembered for the open
chat, so the question is asked once per chat, and each shortened reply says so in a notice.
Nothing is deleted from the chat either way.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.session import LeftOut
from fireside.ui.chat.inference_worker import InferenceWorker
from fireside.ui.shell.notifier import Notifier

LEAVE_OUT = "Leave Out Older Messages"
STOP = "Stop"


def ask_to_leave_out(parent: QWidget, overflow: Overflow) -> bool:
    """The choice, as a dialog; True to leave out the oldest messages. Tests replace this."""
    assert overflow.fit is not None
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("This chat is too long for the model")
    box.setText("This chat no longer fits in the model's memory.")
    box.setInformativeText(
        f"The model holds {overflow.n_ctx:,} tokens and this chat now needs "
        f"{overflow.prompt_tokens:,}. Fireside can leave out the {_messages(overflow.fit.dropped)} "
        "for this reply and the next ones, keeping your system prompt and the most recent turns; "
        "they stay in the chat. Or stop, and start a new chat or load the model with a larger "
        "context.")
    leave = box.addButton(LEAVE_OUT, QMessageBox.ButtonRole.AcceptRole)
    stop = box.addButton(STOP, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(leave)
    box.setEscapeButton(stop)
    box.exec()
    return box.clickedButton() is leave


def _messages(count: int) -> str:
    return "oldest message" if count == 1 else f"{count:,} oldest messages"


class OverflowHandler(QObject):
    """Answers the service's question on the GUI thread (the worker waits for the answer)."""

    def __init__(self, worker: InferenceWorker, notifier: Notifier, current_chat: Callable[[], int],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._worker = worker
        self._notifier = notifier
        self._current_chat = current_chat
        self._parent = parent
        self._agreed_chat: int | None = None  # chat where the person already chose to leave out
        worker.overflowed.connect(self.on_overflow)

    def agreed_for(self, chat: int) -> bool:
        """Did the person already agree to leave older messages out of this saved chat?"""
        return bool(chat) and self._agreed_chat == chat

    @Slot(int, object)
    def on_overflow(self, request_id: int, overflow: Overflow) -> None:
        # Nothing to offer, or the window is closing (hidden first): fail with the engine's words.
        if overflow.fit is None or not self._parent.isVisible():
            self._worker.answer_overflow(request_id, False)
            return
        leave_out = self.agreed_for(self._current_chat()) or ask_to_leave_out(self._parent, overflow)
        if leave_out:
            self._agreed_chat = self._current_chat() or None
        self._worker.answer_overflow(request_id, leave_out)

    def show_left_out(self, left: LeftOut) -> None:
        self._notifier.notice(
            "Older messages left out",
            f"To fit the model's {left.n_ctx:,}-token memory, this reply does not see the "
            f"{_messages(left.dropped)} of this chat. They are still here.")
