"""The conversation on screen as a Qt list model: one row per message, reasoning as its own role.

Only the GUI thread touches it. The inference worker's results arrive as queued signals and the
window applies them here, so no lock is needed and a deleted row can never race a writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QPersistentModelIndex, Qt

from fireside.core.chat.conversation import Message
from fireside.core.chat.events import ReplyStats, ToolCall, ToolResult

_Index = QModelIndex | QPersistentModelIndex
_USER = int(Qt.ItemDataRole.UserRole)


@dataclass
class ChatItem:
    """One message. Assistant rows stream: text and reasoning grow until finish or failure."""

    role: str  # "user" | "assistant" | "tool" (a tool's result)
    text: str = ""
    reasoning: str = ""
    request_id: int = 0
    streaming: bool = False
    error: str = ""
    stats: ReplyStats | None = None
    reasoning_started: float | None = None  # GUI clock, for "Thought for N s" before stats arrive
    reasoning_seconds: float | None = None  # None while still thinking (or never thought)
    branch: tuple[int, int] = (1, 1)  # version position and count, for "‹ 2/3 ›"
    tool_calls: tuple[ToolCall, ...] = ()  # assistant: the calls this step of the reply made
    tool_name: str = ""  # tool: whose result this is ("python", "functions.x")
    tool_failed: bool = False  # tool: it failed, timed out or was declined
    duration_s: float | None = None  # tool: how long it ran


class ChatModel(QAbstractListModel):
    RoleRole = _USER + 1
    TextRole = _USER + 2
    ReasoningRole = _USER + 3
    ReasoningSecondsRole = _USER + 4
    ReasoningTokensRole = _USER + 5
    StatsRole = _USER + 6
    StreamingRole = _USER + 7
    ErrorRole = _USER + 8
    RequestIdRole = _USER + 9
    BranchPositionRole = _USER + 10  # "‹ 2/3 ›": position (1-based) and count of versions
    BranchCountRole = _USER + 11

    _ROLE_NAMES: ClassVar[dict[int, bytes]] = {
        RoleRole: b"role",
        TextRole: b"text",
        ReasoningRole: b"reasoning",
        ReasoningSecondsRole: b"reasoningSeconds",
        ReasoningTokensRole: b"reasoningTokens",
        StatsRole: b"stats",
        StreamingRole: b"streaming",
        ErrorRole: b"error",
        RequestIdRole: b"requestId",
        BranchPositionRole: b"branchPosition",
        BranchCountRole: b"branchCount",
    }

    def __init__(self, parent: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._items: list[ChatItem] = []
        self._clock = clock

    # Qt model interface

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._items)

    def roleNames(self) -> dict[int, QByteArray]:
        return {role: QByteArray(name) for role, name in self._ROLE_NAMES.items()}

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        role = int(role)
        if role in (int(Qt.ItemDataRole.DisplayRole), self.TextRole):
            return item.text
        if role == self.RoleRole:
            return item.role
        if role == self.ReasoningRole:
            return item.reasoning
        if role == self.ReasoningSecondsRole:
            return self.reasoning_seconds(item)
        if role == self.ReasoningTokensRole:
            return item.stats.reasoning_tokens if item.stats else None
        if role == self.StatsRole:
            return item.stats
        if role == self.StreamingRole:
            return item.streaming
        if role == self.ErrorRole:
            return item.error
        if role == self.RequestIdRole:
            return item.request_id
        if role == self.BranchPositionRole:
            return item.branch[0]
        if role == self.BranchCountRole:
            return item.branch[1]
        return None

    @staticmethod
    def reasoning_seconds(item: ChatItem) -> float | None:
        """Prefer the engine's figure once the reply is done; until then, what the GUI measured."""
        if item.stats is not None and item.stats.reasoning_s > 0:
            return item.stats.reasoning_s
        return item.reasoning_seconds

    # Editing, GUI thread only

    def item(self, row: int) -> ChatItem:
        return self._items[row]

    def add_user_message(self, text: str) -> int:
        return self._append(ChatItem(role="user", text=text))

    def start_reply(self, request_id: int) -> int:
        return self._append(ChatItem(role="assistant", request_id=request_id, streaming=True))

    def live_reply_row(self, request_id: int) -> int:
        """The row the request's reply streams into now: after a tool result, a new one."""
        if self._items and self._items[-1].role == "tool" and self._items[-1].request_id == request_id:
            return self.start_reply(request_id)
        return self.row_for_request(request_id)

    def add_tool_call(self, request_id: int, call: ToolCall) -> int:
        """The reply's current step called a tool: the step is over, the call shown in it."""
        row = self.row_for_request(request_id)
        if row < 0:
            return row
        item = self._items[row]
        item.tool_calls = (*item.tool_calls, call)
        item.streaming = False
        if item.reasoning_started is not None and item.reasoning_seconds is None:
            item.reasoning_seconds = self._clock() - item.reasoning_started
        self._changed(row)
        return row

    def add_tool_result(self, request_id: int, result: ToolResult) -> int:
        return self._append(ChatItem(role="tool", text=result.output, request_id=request_id,
                                     tool_name=result.recipient, tool_failed=result.error,
                                     duration_s=result.duration_s))

    def last_row(self, request_id: int, role: str) -> int:
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].request_id == request_id and self._items[row].role == role:
                return row
        return -1

    def row_for_request(self, request_id: int) -> int:
        """The streaming row for a request, or -1 when it is gone (e.g. the chat was cleared)."""
        for row in range(len(self._items) - 1, -1, -1):
            item = self._items[row]
            if item.role == "assistant" and item.request_id == request_id:
                return row
        return -1

    def append_delta(self, row: int, reasoning: str, answer: str) -> None:
        item = self._items[row]
        if not item.streaming or not (reasoning or answer):
            return
        now = self._clock()
        if reasoning:
            if item.reasoning_started is None:
                item.reasoning_started = now
            item.reasoning += reasoning
        if answer:
            if item.reasoning_started is not None and item.reasoning_seconds is None:
                item.reasoning_seconds = now - item.reasoning_started
            item.text += answer
        self._changed(row)

    def finish_reply(self, row: int, stats: ReplyStats) -> None:
        item = self._items[row]
        item.streaming = False
        item.stats = stats
        if item.reasoning_started is not None and item.reasoning_seconds is None:
            item.reasoning_seconds = self._clock() - item.reasoning_started
        self._changed(row)

    def fail_reply(self, row: int, message: str) -> None:
        item = self._items[row]
        item.streaming = False
        item.error = message
        if item.reasoning_started is not None and item.reasoning_seconds is None:
            item.reasoning_seconds = self._clock() - item.reasoning_started
        self._changed(row)

    def clear(self) -> None:
        self.beginResetModel()
        self._items.clear()
        self.endResetModel()

    def load(self, items: list[ChatItem]) -> None:
        """Show a saved conversation: one reset, so opening 500 messages is one rebuild."""
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def set_branch(self, row: int, position: int, count: int) -> None:
        if 0 <= row < len(self._items) and self._items[row].branch != (position, count):
            self._items[row].branch = (position, count)
            self._changed(row)

    def truncate(self, row: int) -> None:
        """Drop `row` and everything after it (editing or regenerating starts a new branch there)."""
        if 0 <= row < len(self._items):
            self.beginRemoveRows(QModelIndex(), row, len(self._items) - 1)
            del self._items[row:]
            self.endRemoveRows()

    def question_for(self, row: int) -> str:
        """The user message an assistant row answers (the nearest user row above it)."""
        for r in range(row - 1, -1, -1):
            if self._items[r].role == "user":
                return self._items[r].text
        return ""

    def latest_assistant_row(self) -> int:
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].role == "assistant":
                return row
        return -1

    def to_messages(self) -> tuple[Message, ...]:
        """The history for the next ChatRequest: user turns and completed or stopped replies.

        A reply still streaming, or one that failed, is left out; a stopped reply keeps its
        partial answer and reasoning, since the user saw it and may refer to it.
        """
        messages: list[Message] = []
        for item in self._items:
            if item.role == "user":
                messages.append(Message(role="user", text=item.text))
            elif item.role == "tool":
                call_id = next((c.call_id for i in self._items for c in i.tool_calls
                                if c.recipient == item.tool_name), "")
                messages.append(Message("tool", item.text, tool_name=item.tool_name, call_id=call_id))
            elif not item.streaming and not item.error and (item.text or item.reasoning or item.tool_calls):
                messages.append(Message(role="assistant", text=item.text, reasoning=item.reasoning,
                                        tool_calls=item.tool_calls))
        return tuple(messages)

    def _append(self, item: ChatItem) -> int:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()
        return row

    def _changed(self, row: int) -> None:
        index = self.index(row, 0)
        self.dataChanged.emit(index, index, [])
