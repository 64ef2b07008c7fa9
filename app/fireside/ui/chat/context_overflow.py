"""When the next prompt will not fit the model's context: ask, instead of failing.

The worker reports `overflowed` with a ready shortened request (core/chat/context_fit.py: the system
prompt and the most recent turns, the oldest turns in between left out). The user chooses:
leave those out for this reply, or stop. Choosing to leave them out is remembered for the open
chat, so the question is asked once per chat, and each shortened reply says so in a notice.
Nothing is deleted from the chat either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from fireside.core.chat.context_fit import Overflow

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow

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
    """A QObject on the GUI thread, so the worker's signal arrives queued, never on its thread."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._allowed_chat: int | None = None  # chat where the user already chose to leave out
        window.worker.overflowed.connect(self.on_overflow)

    def _chat(self) -> int:
        history = self.window.history
        return history.current_id if history is not None else 0

    @Slot(int, object)
    def on_overflow(self, request_id: int, overflow: Overflow) -> None:
        window = self.window
        if overflow.fit is None or window._shut_down:
            window.worker.overflowAnswered.emit(request_id, None)  # fails with the engine's words
            return
        allowed = self._allowed_chat is not None and self._allowed_chat == self._chat()
        if not allowed and not ask_to_leave_out(window, overflow):
            window.worker.overflowAnswered.emit(request_id, None)
            return
        self._allowed_chat = self._chat()
        window.notice_banner.show_message(
            "Older messages left out",
            f"To fit the model's {overflow.n_ctx:,}-token memory, this reply does not see the "
            f"{_messages(overflow.fit.dropped)} of this chat. They are still here.")
        window.worker.overflowAnswered.emit(request_id, overflow.fit.request)


def install_overflow_handler(window: MainWindow) -> OverflowHandler:
    return OverflowHandler(window)
