"""Asking before a tool runs: the call, its arguments (Python highlighted), and the choice.

The conversation service asks through the worker's `approvalRequested` and waits on the worker's
thread, so the dialog never blocks a reply's tokens: they have stopped for the question. "Allow
for This Chat" is remembered here, per chat and tool, for this session of the app; "Always Allow"
is remembered by the tool registry (tools.json), only for MCP tools and only when the
organisation's policy permits it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from fireside.core.chat.events import ToolCall
from fireside.ui import wording
from fireside.ui.chat.code_block import CodeBlock
from fireside.ui.chat.inference_worker import InferenceWorker


class Approval(StrEnum):
    ONCE = "once"
    CHAT = "chat"
    ALWAYS = "always"
    DENY = "deny"


class ApprovalDialog(QDialog):
    def __init__(self, call: ToolCall, can_always: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(wording.APPROVE_TITLE)
        self.setMinimumWidth(520)
        self.choice = Approval.DENY
        layout = QVBoxLayout(self)
        heading = QLabel(wording.approve_heading(call.recipient))
        heading.setObjectName("dialogHeading")
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        heading.setFont(font)
        layout.addWidget(heading)
        question = QLabel(wording.approve_question(call.recipient))
        question.setWordWrap(True)
        layout.addWidget(question)
        language = "python" if call.recipient == "python" else "json"
        self.code = CodeBlock(call.arguments or "{}", language)
        self.code.setAccessibleName("The call's arguments" if language == "json" else "The code to run")
        layout.addWidget(self.code)
        buttons = QDialogButtonBox()
        self.deny = buttons.addButton(wording.APPROVE_DENY, QDialogButtonBox.ButtonRole.RejectRole)
        self.once = buttons.addButton(wording.APPROVE_ONCE, QDialogButtonBox.ButtonRole.AcceptRole)
        self.chat = buttons.addButton(wording.APPROVE_CHAT, QDialogButtonBox.ButtonRole.AcceptRole)
        self.always: QPushButton | None = None
        if can_always:
            self.always = buttons.addButton(wording.APPROVE_ALWAYS, QDialogButtonBox.ButtonRole.AcceptRole)
        for button, choice in ((self.deny, Approval.DENY), (self.once, Approval.ONCE),
                               (self.chat, Approval.CHAT), (self.always, Approval.ALWAYS)):
            if button is not None:
                button.clicked.connect(lambda _=False, c=choice: self._choose(c))
        for button in (self.once, self.chat, self.always):
            if button is not None:
                button.setAutoDefault(False)
        self.deny.setDefault(True)  # Enter never runs code by accident
        layout.addWidget(buttons)
        self.deny.setFocus()

    def _choose(self, choice: Approval) -> None:
        self.choice = choice
        self.done(QDialog.DialogCode.Rejected if choice == Approval.DENY else QDialog.DialogCode.Accepted)


def ask_approval(parent: QWidget, call: ToolCall, can_always: bool) -> Approval:
    """The choice, as a modal dialog. Tests replace this."""
    dialog = ApprovalDialog(call, can_always, parent)
    try:
        dialog.exec()
        return dialog.choice
    finally:
        dialog.deleteLater()


class ToolApprovals(QObject):
    """Answers the worker's approval questions on the GUI thread."""

    def __init__(self, worker: InferenceWorker, current_chat: Callable[[], int],
                 can_always: Callable[[ToolCall], bool], parent: QWidget) -> None:
        super().__init__(parent)
        self._worker = worker
        self._current_chat = current_chat
        self._can_always = can_always
        self._parent = parent
        self._allowed: set[tuple[int, str]] = set()  # (chat, tool) the person allowed for the chat
        worker.approvalRequested.connect(self.on_request)

    @Slot(int, object)
    def on_request(self, request_id: int, call: ToolCall) -> None:
        chat = self._current_chat()
        if chat and (chat, call.recipient) in self._allowed:
            self._worker.answer_approval(request_id, True)
            return
        if not self._parent.isVisible():  # closing: nothing runs
            self._worker.answer_approval(request_id, False)
            return
        choice = ask_approval(self._parent, call, self._can_always(call))
        if choice == Approval.CHAT and chat:
            self._allowed.add((chat, call.recipient))
        self._worker.answer_approval(request_id, choice != Approval.DENY,
                                     always=choice == Approval.ALWAYS)
