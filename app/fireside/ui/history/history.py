"""The saved history as the window shows it: which chat is open, and which store id each row of
the chat on screen has.

Saving is not done here: the conversation service (core/chat/session.py) records each turn on the
inference worker's thread and reports every message it saved (`Saved`); `on_saved` maps it to its
row. What stays here is what the sidebar and the transcript's buttons do to the view: open a chat,
start a new one, switch a version ("‹ 2/3 ›"), truncate the view before an edit or a
regeneration, and the short writes of rename, pin, delete and the chat's system prompt. Those run
on the GUI thread and never wait for the disk (durable=False: a killed app keeps them; only a
power cut in the next moments could lose one).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from fireside.core.chat.events import ReplyStats
from fireside.core.chat.session import OPEN_KEY, Saved, select_branch
from fireside.core.history.export import export_json, import_json
from fireside.core.history.store import Store, StoredMessage, StoreError
from fireside.ui.chat.chat_model import ChatItem, ChatModel

log = logging.getLogger(__name__)
_STATS_FIELDS = set(ReplyStats.__dataclass_fields__)
T = TypeVar("T")


def _item(m: StoredMessage) -> ChatItem:
    if m.role == "tool":
        seconds = m.stats.get("duration_s")
        return ChatItem(role="tool", text=m.text, tool_name=m.tool_name,
                        tool_failed=bool(m.stats.get("error")),
                        duration_s=float(seconds) if isinstance(seconds, int | float) else None)
    stats = None
    if m.stats and set(m.stats) <= _STATS_FIELDS:
        stats = ReplyStats(**m.stats)
    error = m.stats.get("error", "") if m.status == "error" else ""
    return ChatItem(role=m.role, text=m.text, reasoning=m.reasoning, stats=stats, error=str(error),
                    reasoning_seconds=stats.reasoning_s if stats and stats.reasoning_s else None,
                    tool_calls=m.tool_calls)


class HistoryController(QObject):
    conversationsChanged = Signal()  # the list in the sidebar needs a refresh
    currentChanged = Signal(int)  # conversation shown (0: a new, unsaved chat)
    failed = Signal(str)  # reading or writing the history failed; a sentence for the banner

    def __init__(self, store: Store, model: ChatModel, default_prompt: Callable[[], str],
                 parent: QObject | None = None) -> None:
        """`default_prompt()` is the system prompt a new chat starts from (the user's setting)."""
        super().__init__(parent)
        self.store = store
        self._model = model
        self._default_prompt = default_prompt
        self.current_id = 0
        self.busy = False  # a reply is being written into the open chat (the window says so)
        self._ids: list[int] = []  # store id of each ChatModel row (0: not saved yet)
        self._new_chat_prompt: str | None = None  # from a preset, for the chat not yet saved

    # Opening and starting chats

    def open(self, conversation_id: int) -> bool:
        try:
            path = self.store.active_path(conversation_id)
            siblings = self._siblings(conversation_id)
        except (StoreError, sqlite3.Error) as exc:
            self.failed.emit(str(exc))
            return False
        items = [_item(m) for m in path]
        for m, item in zip(path, items, strict=True):
            versions = siblings.get(m.parent_id, [m.id])
            item.branch = (versions.index(m.id) + 1, len(versions))
        self._model.load(items)
        self._ids = [m.id for m in path]
        self._set_current(conversation_id, remember=True)
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
        """Show an empty chat; the service saves it when its first message is sent."""
        self._model.clear()
        self._ids = []
        self._set_current(0, remember=True)

    def _set_current(self, conversation_id: int, remember: bool) -> None:
        self.current_id = conversation_id
        self._new_chat_prompt = None
        if remember:
            self._write(self.store.set_state, OPEN_KEY, str(conversation_id or ""), durable=False)
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
        return self._default_prompt()

    def set_system_prompt(self, text: str) -> None:
        """Change the open chat's system prompt (or the new chat's); applies from the next reply."""
        if self.current_id:
            self._write(self.store.update_conversation, self.current_id, durable=False,
                        system_prompt=text.strip())
        else:
            self._new_chat_prompt = text.strip()

    # What the service saved

    def on_saved(self, row: int, saved: Saved) -> None:
        """Message `saved` is the one shown at `row`: remember its id and show its versions."""
        if saved.conversation_id != self.current_id:
            if saved.new_conversation or not self.current_id:
                self.current_id = saved.conversation_id
                self.currentChanged.emit(saved.conversation_id)
            else:
                return  # the person already moved on to another chat
        while len(self._ids) <= row:
            self._ids.append(0)
        self._ids[row] = saved.message_id
        self._model.set_branch(row, saved.position, saved.count)
        self.conversationsChanged.emit()

    def reply_ended(self) -> None:
        if self.current_id:  # a saved chat moved to the top of the list
            self.conversationsChanged.emit()

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
        if not mid or self.busy:
            return False
        shown = self._write(select_branch, self.store, mid, step)
        if shown is None or shown == mid:
            return False
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

    def prepare_edit(self, row: int) -> int:
        """Truncate the view at user row `row`; returns the id the edit makes a new version of
        (0 when that row cannot be edited)."""
        mid = self.message_id(row)
        if not mid or self._model.item(row).role != "user":
            return 0
        self._truncate(row)
        return mid

    def prepare_regenerate(self, row: int) -> int:
        """Truncate the view at reply `row`; returns the id of the reply to answer again."""
        mid = self.message_id(row)
        if not mid or row == 0 or self._model.item(row).role != "assistant":
            return 0
        self._truncate(row)
        return mid

    def _truncate(self, row: int) -> None:
        self._model.truncate(row)
        del self._ids[row:]

    def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
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
            self._write(self.store.update_conversation, conversation_id, durable=False, title=title)
            self.conversationsChanged.emit()

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._write(self.store.update_conversation, conversation_id, durable=False, pinned=pinned)
        self.conversationsChanged.emit()

    def delete(self, conversation_id: int) -> dict[str, object] | None:
        """Delete a chat and return a snapshot that `undo_delete` can bring back, exactly."""
        if conversation_id == self.current_id and self.busy:
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
        """Close the database (the worker has stopped; any partial reply stays marked partial)."""
        self.store.close()
