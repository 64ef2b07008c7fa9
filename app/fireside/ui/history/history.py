"""Keeps the chat on screen and the conversation store in step, so MainWindow does not have to.

Why it listens to the ChatModel instead of being called by the window: the window already appends
the user row, starts the reply row, streams into it and reports `replyFinished` / `replyFailed`.
Following those signals records every exchange with no change to how a reply flows, and the
streamed text reaches disk through one ReplyRecorder (about twice a second), so a crash loses at
most a second of a reply.

Branching works by steering the next send: editing a user message truncates the view at that row
and makes the next user message a sibling of it; regenerating truncates at the question and makes
the re-sent question map onto the stored one, so the new reply becomes a sibling of the old.
Runs on the GUI thread only; the store's writes are short commits.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Signal

from fireside.core.chat.events import ReplyStats
from fireside.core.history.recorder import FLUSH_INTERVAL_S, ReplyRecorder
from fireside.core.history.store import Store, StoredMessage, StoreError
from fireside.core.history.export import export_json, import_json

from fireside.ui.chat.chat_model import ChatItem, ChatModel

_T = TypeVar("_T")
log = logging.getLogger(__name__)
_Index = QModelIndex | QPersistentModelIndex
OPEN_KEY = "open_conversation"
_STATS_FIELDS = set(ReplyStats.__dataclass_fields__)


def _item(m: StoredMessage) -> ChatItem:
    stats = None
    if m.stats and set(m.stats) <= _STATS_FIELDS:
        stats = ReplyStats(**m.stats)
    error = m.stats.get("error", "") if m.status == "error" else ""
    return ChatItem(role=m.role, text=m.text, reasoning=m.reasoning, stats=stats, error=str(error),
                    reasoning_seconds=stats.reasoning_s if stats and stats.reasoning_s else None)


class HistoryController(QObject):
    flush_interval_s = FLUSH_INTERVAL_S  # how often a streaming reply reaches the disk
    conversationsChanged = Signal()  # the list in the sidebar needs a refresh
    currentChanged = Signal(int)  # conversation shown (0: a new, unsaved chat)
    failed = Signal(str)  # writing the history failed; a sentence for the error banner

    def __init__(self, store: Store, model: ChatModel, context: Callable[[], tuple[str, str, str]],
                 parent: QObject | None = None) -> None:
        """`context()` returns (model name, effort, system prompt) for the message being sent."""
        super().__init__(parent)
        self.store = store
        self._model = model
        self._context = context
        self.current_id = 0
        self._ids: list[int] = []  # store id of each ChatModel row
        self._recorders: dict[int, ReplyRecorder] = {}  # row -> recorder while streaming
        self._next_parent: int | None = None  # set by edit: the parent of the next user message
        self._branch_next = False
        self._reuse_question: int | None = None  # set by regenerate
        self._resetting = False
        self._new_chat_prompt: str | None = None  # from a preset, for the chat not yet saved
        model.rowsInserted.connect(self._on_rows_inserted)
        model.rowsRemoved.connect(self._on_rows_removed)
        model.modelReset.connect(self._on_reset)
        model.dataChanged.connect(self._on_data_changed)

    # Opening and starting chats

    @property
    def busy(self) -> bool:
        """A reply is being written into the open chat; switching now would orphan it."""
        return bool(self._recorders)

    def open(self, conversation_id: int) -> bool:
        if self.busy:
            return False
        try:
            path = self.store.active_path(conversation_id)
        except StoreError as exc:
            self.failed.emit(str(exc))
            return False
        self._resetting = True
        try:
            self._recorders.clear()
            siblings = self._siblings(conversation_id)
            items = [_item(m) for m in path]
            for m, item in zip(path, items, strict=True):
                versions = siblings.get(m.parent_id, [m.id])
                item.branch = (versions.index(m.id) + 1, len(versions))
            self._model.load(items)
        finally:
            self._resetting = False
        self._ids = [m.id for m in path]
        self._set_current(conversation_id)
        return True

    def _siblings(self, conversation_id: int) -> dict[int | None, list[int]]:
        """Versions at each place in the tree, in one query (opening a long chat stays fast)."""
        out: dict[int | None, list[int]] = {}
        for parent, mid in self.store.query(
                "SELECT parent_id, id FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,)):
            out.setdefault(parent, []).append(mid)
        return out

    def restore_last(self) -> bool:
        """Reopen the chat that was open when the app last closed, if it still exists."""
        value = self.store.state(OPEN_KEY)
        ids = {c.id for c in self.store.conversations()}
        return value.isdigit() and int(value) in ids and self.open(int(value))

    def new_chat(self) -> None:
        """Show an empty chat; it is saved when its first message is sent."""
        self._resetting = True
        try:
            self._model.clear()
        finally:
            self._resetting = False
        self._ids, self._recorders = [], {}
        self._set_current(0)

    def _set_current(self, conversation_id: int) -> None:
        self.current_id = conversation_id
        self._next_parent, self._branch_next, self._reuse_question = None, False, None
        self._new_chat_prompt = None
        self._write(self.store.set_state, OPEN_KEY, str(conversation_id or ""))
        self.currentChanged.emit(conversation_id)

    def system_prompt(self) -> str:
        """The open chat's own system prompt; a new chat starts from the default in settings."""
        if self.current_id:
            try:
                return self.store.conversation(self.current_id).system_prompt
            except StoreError:
                pass
        if self._new_chat_prompt is not None:
            return self._new_chat_prompt
        return self._context()[2]

    def set_system_prompt(self, text: str) -> None:
        """Change the open chat's system prompt (or the new chat's); applies from the next reply."""
        if self.current_id:
            self._write(self.store.update_conversation, self.current_id, system_prompt=text.strip())
        else:
            self._new_chat_prompt = text.strip()

    # Branches

    def message_id(self, row: int) -> int:
        return self._ids[row] if 0 <= row < len(self._ids) else 0

    def branch(self, row: int) -> tuple[int, int]:
        """(position, count) among the versions at this row, 1-based: "< 2/3 >"."""
        mid = self.message_id(row)
        if not mid:
            return (1, 1)
        siblings = self.store.siblings(mid)
        return (siblings.index(mid) + 1, len(siblings))

    def switch_branch(self, row: int, step: int) -> bool:
        """Show the previous (-1) or next (+1) version of the message at `row`."""
        mid = self.message_id(row)
        if not mid or self._recorders:
            return False
        siblings = self.store.siblings(mid)
        target = siblings.index(mid) + step
        if not 0 <= target < len(siblings):
            return False
        self._write(self.store.select, siblings[target])
        return self.open(self.current_id)

    def delete_message(self, row: int) -> bool:
        """Delete the message at `row` with everything below it in its branch; another version
        of it, if there is one, takes its place."""
        mid = self.message_id(row)
        if not mid or self.busy:
            return False
        if self._write(self.store.delete_message, mid) is None and self._has_message(mid):
            return False
        self.conversationsChanged.emit()
        return self.open(self.current_id)

    def _has_message(self, message_id: int) -> bool:
        return bool(self.store.query("SELECT 1 FROM messages WHERE id = ?", (message_id,)))

    def prepare_edit(self, row: int) -> bool:
        """Truncate at user row `row`; the next message sent becomes a new version of it."""
        mid = self.message_id(row)
        if not mid or self._recorders or self._model.item(row).role != "user":
            return False
        parent = self.store.message(mid).parent_id
        self._truncate(row)
        self._next_parent, self._branch_next = parent, True
        return True

    def prepare_regenerate(self, row: int) -> str:
        """Truncate at the question reply `row` answers; returns that question to send again."""
        mid = self.message_id(row)
        if not mid or self._recorders or row == 0 or self._model.item(row).role != "assistant":
            return ""
        question_row = row - 1
        question = self._model.item(question_row).text
        reuse = self._ids[question_row]
        self._truncate(question_row)
        self._reuse_question = reuse
        return question

    def _truncate(self, row: int) -> None:
        self._resetting = True
        try:
            self._model.truncate(row)
        finally:
            self._resetting = False
        del self._ids[row:]

    # Following the chat model

    def _on_rows_inserted(self, _parent: _Index, first: int, last: int) -> None:
        before = self.current_id
        try:
            with self.store.batch():  # a new chat, its open marker and the question: one fsync
                self._save_rows(first, last)
        except (StoreError, sqlite3.Error) as exc:  # the batch's commit failed: none of it is saved
            self.current_id = before
            for row in range(first, min(last + 1, len(self._ids))):
                self._ids[row] = 0
                self._recorders.pop(row, None)
            log.warning("History write failed: %s", exc)
            self.failed.emit(f"Fireside could not save this chat to your history: {exc}")

    def _save_rows(self, first: int, last: int) -> None:
        for row in range(first, last + 1):
            item = self._model.item(row)
            model, effort, _default_prompt = self._context()
            if not self.current_id:
                cid = self._write(self.store.create_conversation, system_prompt=self.system_prompt(),
                                  model=model, effort=effort)
                if not cid:  # saving is failing (banner shown); keep rows and ids in step
                    self._ids[first:first] = [0] * (last - first + 1)
                    return
                self.current_id = cid
                self._write(self.store.set_state, OPEN_KEY, str(cid))
                self.currentChanged.emit(cid)
            parent = (self._ids[row - 1] or None) if 0 < row <= len(self._ids) else None
            mid: int | None
            if item.role == "user" and self._reuse_question is not None:
                mid, self._reuse_question = self._reuse_question, None
            elif item.role == "user":
                if self._branch_next:
                    parent, self._branch_next = self._next_parent, False
                mid = self._write(self.store.add_message, self.current_id, parent, "user", item.text)
            else:
                mid = self._write(self.store.start_reply, self.current_id, parent, model, effort)
                if mid:
                    self._recorders[row] = ReplyRecorder(self.store, mid, self.flush_interval_s)
            self._ids.insert(row, mid or 0)
            if mid:
                position, count = self.branch(row)
                self._model.set_branch(row, position, count)
        self.conversationsChanged.emit()

    def _on_data_changed(self, top_left: _Index, bottom_right: _Index, _roles: object = None) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            recorder = self._recorders.get(row)
            if recorder is None:
                continue
            item = self._model.item(row)
            if item.streaming:
                self._write(recorder.replace, item.text, item.reasoning)
            else:  # finished, stopped or failed: write it whole with its stats
                del self._recorders[row]
                stats = item.stats.as_json() if item.stats else {}
                status = "done"
                if item.error:
                    status, stats = "error", {"error": item.error}
                elif item.stats is not None and item.stats.stop_reason == "cancelled":
                    status = "cancelled"
                self._write(recorder.finish, stats, status, item.text, item.reasoning)
                self.conversationsChanged.emit()

    def _on_rows_removed(self, *_: object) -> None:
        if not self._resetting:  # someone else removed rows: we no longer know the mapping
            self._ids = []
            self._set_current(0)

    def _on_reset(self) -> None:
        if not self._resetting:  # the window cleared the chat (New chat)
            self._ids, self._recorders = [], {}
            self._set_current(0)

    def _write(self, fn: Callable[..., _T], *args: object, **kwargs: object) -> _T | None:
        """Run a store write; on failure tell the user once and keep the chat usable."""
        try:
            return fn(*args, **kwargs)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("History write failed: %s", exc)
            self.failed.emit(f"Fireside could not save this chat to your history: {exc}")
            return None

    # Managing conversations (the sidebar's actions)

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if title:
            self._write(self.store.update_conversation, conversation_id, title=title)
            self.conversationsChanged.emit()

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._write(self.store.update_conversation, conversation_id, pinned=pinned)
        self.conversationsChanged.emit()

    def delete(self, conversation_id: int) -> dict[str, object] | None:
        """Delete a chat and return a snapshot that `undo_delete` can bring back, exactly."""
        if conversation_id == self.current_id and self._recorders:
            return None  # never delete the chat a reply is being written into
        snapshot = self._write(export_json, self.store, [conversation_id])
        if snapshot is None:
            return None
        self._write(self.store.delete_conversation, conversation_id)
        if conversation_id == self.current_id:
            self.new_chat()
        self.conversationsChanged.emit()
        return snapshot

    def undo_delete(self, snapshot: dict[str, object]) -> int:
        ids = self._write(import_json, self.store, snapshot) or []
        self.conversationsChanged.emit()
        return ids[0] if ids else 0

    def close(self) -> None:
        """Flush any reply still streaming (it stays marked partial) and close the database."""
        for recorder in self._recorders.values():
            self._write(recorder.flush)
        self._recorders.clear()
        for signal, slot in ((self._model.rowsInserted, self._on_rows_inserted),
                             (self._model.rowsRemoved, self._on_rows_removed),
                             (self._model.modelReset, self._on_reset),
                             (self._model.dataChanged, self._on_data_changed)):
            signal.disconnect(slot)
        self.store.close()
