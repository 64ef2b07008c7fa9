"""Conversation history in SQLite: crash-safe, searchable, with branches.

Why SQLite in WAL mode: a reply being streamed is written as a partial row and updated about
twice a second, each update its own commit, so if the app dies the file is intact and holds all
but the last half second of the reply. Structural writes (a chat, a question, a finished reply)
are synchronous=FULL and survive a power cut; the frequent partial updates skip the disk wait
(synchronous=NORMAL, still crash-safe) except one every few seconds, because each fsync is time
the GUI thread waits (measured: 7-10 ms each on this VM). WAL also lets the window read
(a search, the sidebar) while another thread writes.

Messages form a tree: editing a user message or regenerating a reply adds a sibling instead of
deleting what followed. Each message remembers which child is shown (`active_child_id`; the
conversation does the same for its first messages), so switching "< 2/3 >" on one branch keeps
the choices made further down each branch.

Connections are per thread (sqlite3 objects must not be shared between threads); `close()` closes
them all. Core code: no Qt here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fireside.core.chat.events import ToolCall
from fireside.core.history.schema import SchemaTooNew, migrate

__all__ = [
    "Conversation",
    "NotFound",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoredMessage",
    "default_store_path",
]

TITLE_LENGTH = 60


class StoreError(Exception):
    """The history could not be read or written; the message says why in plain words."""


class NotFound(StoreError):
    """No conversation or message with that id."""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    pinned: bool
    system_prompt: str
    model: str
    effort: str
    active_root_id: int | None
    source: str = ""  # "api": started by the local API server (a stored response)


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    text: str
    reasoning: str
    stats: dict[str, Any]
    model: str
    effort: str
    created: float
    status: str  # "partial" while streaming (or cut by a crash) | "done" | "error" | "cancelled"
    active_child_id: int | None
    tool_calls: tuple[ToolCall, ...] = ()  # assistant: the calls this step made
    tool_name: str = ""  # "tool": the recipient of the call it answers
    call_id: str = ""  # "tool": the call it answers


_CONV_COLS = "id, title, created, updated, pinned, system_prompt, model, effort, active_root_id, source"
_MSG_COLS = ("id, conversation_id, parent_id, role, text, reasoning, stats, model, effort, created, "
             "status, active_child_id, tool_calls, tool_name, call_id")


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8],
                        row[9])


def _message(row: tuple[Any, ...]) -> StoredMessage:
    return StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "{}"),
                         row[7], row[8], row[9], row[10], row[11], calls_from_json(row[12]),
                         row[13], row[14])


_CALL_FIELDS = ("recipient", "arguments", "channel", "content_type", "call_id")


def calls_to_json(calls: tuple[ToolCall, ...]) -> str:
    return json.dumps([{f: getattr(c, f) for f in _CALL_FIELDS} for c in calls], ensure_ascii=False)


def calls_from_json(text: str | list[Any] | None) -> tuple[ToolCall, ...]:
    """Tool calls as stored or exported; anything malformed is dropped, never raised."""
    try:
        items = json.loads(text) if isinstance(text, str) else (text or [])
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(ToolCall(str(item["recipient"]), str(item.get("arguments", "")),
                          str(item.get("channel", "commentary")), str(item.get("content_type", "")),
                          str(item.get("call_id", "")))
                 for item in items if isinstance(item, dict) and item.get("recipient"))


def default_store_path() -> Path:
    from fireside.core.config.paths import app_paths

    return app_paths().data / "conversations.sqlite3"


def make_title(text: str) -> str:
    """A sidebar title from the first user message: one line, cut at a word near 60 characters."""
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut + "…"


class Store:
    """The conversation database. Safe to use from several threads; each gets its own connection."""

    def __init__(self, path: Path | str | None = None, clock: Any = time.time) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            migrate(self._db())
        except SchemaTooNew:
            self.close()
            raise
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StoreError(f"Could not open the conversation history at {self.path}: {exc}") from exc

    # Connections

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        if self._closed:
            raise StoreError("The conversation history has been closed.")
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # each flushed partial reply survives power loss
        db.execute("PRAGMA foreign_keys = ON")
        with self._lock:
            self._connections.append(db)
        self._local.db = db
        return db

    def close(self) -> None:
        """Close every thread's connection. Call once no other thread is using the store."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock up front, so two writers queue
        (up to the busy timeout) instead of failing halfway with 'database is locked'.

        Inside `batch()` it joins the batch's transaction. `durable=False` commits without
        waiting for the disk (synchronous=NORMAL): still safe if the app is killed, and never
        corrupt, but a power cut may lose it until the next durable commit, which syncs it too.
        """
        db = self._db()
        if getattr(self._local, "batch", 0):
            yield db
            return
        if not durable:
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            if not durable and not db.in_transaction:
                db.execute("PRAGMA synchronous = FULL")
        db.execute("COMMIT")
        if not durable:
            db.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several writes as one transaction and one wait for the disk: what a send does (a new
        chat, the open-chat marker and the question) costs one fsync on the GUI thread, not three."""
        depth = getattr(self._local, "batch", 0)
        if depth:
            self._local.batch = depth + 1
            try:
                yield
            finally:
                self._local.batch = depth
            return
        with self._write():
            self._local.batch = 1
            try:
                yield
            finally:
                self._local.batch = 0

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read with this thread's connection (for the store's helpers: search, export)."""
        return self._db().execute(sql, params).fetchall()

    # Conversations

    def create_conversation(self, title: str = "", system_prompt: str = "", model: str = "",
                            effort: str = "medium", created: float | None = None,
                            source: str = "") -> int:
        now = self._clock() if created is None else created
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO conversations (title, created, updated, system_prompt, model, effort, "
                "source) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, now, now, system_prompt, model, effort, source))
            return int(cur.lastrowid or 0)

    def conversation(self, conversation_id: int) -> Conversation:
        rows = self.query(f"SELECT {_CONV_COLS} FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise NotFound(f"There is no conversation with id {conversation_id}.")
        return _conversation(rows[0])

    def conversations(self) -> list[Conversation]:
        """Pinned first, then the most recently updated."""
        return [_conversation(r) for r in self.query(
            f"SELECT {_CONV_COLS} FROM conversations ORDER BY pinned DESC, updated DESC, id DESC")]

    def message_counts(self) -> dict[int, int]:
        return {cid: n for cid, n in self.query("SELECT conversation_id, count(*) FROM messages GROUP BY 1")}

    def update_conversation(self, conversation_id: int, durable: bool = True, **fields: Any) -> None:
        """Change title, pinned, system_prompt, model or effort. Renaming or pinning does not move
        a chat to the top of the list; only new messages do. The window passes durable=False:
        its writes must not wait for the disk on the GUI thread (a kill still keeps them)."""
        allowed = {"title", "pinned", "system_prompt", "model", "effort"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of a conversation.")
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        values = tuple(int(v) if isinstance(v, bool) else v for v in fields.values())
        with self._write(durable) as db:
            cur = db.execute(f"UPDATE conversations SET {sets} WHERE id = ?", (*values, conversation_id))
            if cur.rowcount == 0:
                raise NotFound(f"There is no conversation with id {conversation_id}.")

    def delete_conversation(self, conversation_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE conversations SET active_root_id = NULL WHERE id = ?", (conversation_id,))
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # Messages

    def add_message(self, conversation_id: int, parent_id: int | None, role: str, text: str = "",
                    reasoning: str = "", *, stats: dict[str, Any] | None = None, model: str = "",
                    effort: str = "", status: str = "done", created: float | None = None,
                    durable: bool = True, tool_calls: tuple[ToolCall, ...] = (), tool_name: str = "",
                    call_id: str = "") -> int:
        """Add a message under `parent_id` (None: a first message) and make it the shown branch."""
        now = self._clock() if created is None else created
        with self._write(durable) as db:
            conv = db.execute("SELECT title FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if conv is None:
                raise NotFound(f"There is no conversation with id {conversation_id}.")
            if parent_id is not None:
                parent = db.execute("SELECT conversation_id FROM messages WHERE id = ?",
                                    (parent_id,)).fetchone()
                if parent is None or parent[0] != conversation_id:
                    raise NotFound(f"There is no message {parent_id} in conversation {conversation_id}.")
            cur = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, text, reasoning, stats, model, "
                "effort, created, status, tool_calls, tool_name, call_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role, text, reasoning, json.dumps(stats or {}), model,
                 effort, now, status, calls_to_json(tool_calls), tool_name, call_id))
            message_id = int(cur.lastrowid or 0)
            self._activate(db, conversation_id, parent_id, message_id)
            title = conv[0] or (make_title(text) if role == "user" else "")
            db.execute("UPDATE conversations SET updated = max(updated, ?), title = ? WHERE id = ?",
                       (now, title, conversation_id))
            return message_id

    def start_reply(self, conversation_id: int, parent_id: int, model: str = "", effort: str = "") -> int:
        """An empty assistant row marked partial; feed it with update_partial, close with finish.

        Not synced to disk on its own (nothing is in it yet): the first durable update does it.
        """
        return self.add_message(conversation_id, parent_id, "assistant", model=model, effort=effort,
                                status="partial", durable=False)

    def update_partial(self, message_id: int, text: str, reasoning: str, durable: bool = True) -> None:
        """Replace the streamed-so-far text and reasoning (one short commit)."""
        with self._write(durable) as db:
            db.execute("UPDATE messages SET text = ?, reasoning = ? WHERE id = ?",
                       (text, reasoning, message_id))

    def finish(self, message_id: int, text: str, reasoning: str, stats: dict[str, Any] | None = None,
               status: str = "done", tool_calls: tuple[ToolCall, ...] = ()) -> None:
        with self._write() as db:
            db.execute("UPDATE messages SET text = ?, reasoning = ?, stats = ?, status = ?, "
                       "tool_calls = ? WHERE id = ?",
                       (text, reasoning, json.dumps(stats or {}), status, calls_to_json(tool_calls),
                        message_id))
            db.execute("UPDATE conversations SET updated = max(updated, ?) WHERE id = "
                       "(SELECT conversation_id FROM messages WHERE id = ?)", (self._clock(), message_id))

    def edit_message(self, message_id: int, text: str) -> None:
        """Change a message in place (no branch); for fixing a typo in a reply, say."""
        with self._write() as db:
            db.execute("UPDATE messages SET text = ? WHERE id = ?", (text, message_id))

    def message(self, message_id: int) -> StoredMessage:
        rows = self.query(f"SELECT {_MSG_COLS} FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise NotFound(f"There is no message with id {message_id}.")
        return _message(rows[0])

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of every branch, oldest first."""
        return [_message(r) for r in self.query(
            f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))]

    def active_path(self, conversation_id: int) -> list[StoredMessage]:
        """The branch on screen: from the shown first message down through each shown child."""
        conv = self.conversation(conversation_id)
        by_id = {m.id: m for m in self.messages(conversation_id)}
        path: list[StoredMessage] = []
        current = conv.active_root_id
        while current is not None and current in by_id and len(path) <= len(by_id):
            path.append(by_id[current])
            current = by_id[current].active_child_id
        return path

    def siblings(self, message_id: int) -> list[int]:
        """Ids of the versions at this place in the tree (this one included), oldest first."""
        msg = self.message(message_id)
        if msg.parent_id is None:
            rows = self.query("SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
                               "ORDER BY id", (msg.conversation_id,))
        else:
            rows = self.query("SELECT id FROM messages WHERE parent_id = ? ORDER BY id", (msg.parent_id,))
        return [r[0] for r in rows]

    def select(self, message_id: int, durable: bool = True) -> None:
        """Show this version (switching "< 2/3 >"); its own descendants keep their choices."""
        msg = self.message(message_id)
        with self._write(durable) as db:
            self._activate(db, msg.conversation_id, msg.parent_id, message_id)

    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything below it; the nearest remaining sibling is shown."""
        msg = self.message(message_id)
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            if msg.parent_id is None:
                row = db.execute("SELECT max(id) FROM messages WHERE conversation_id = ? AND "
                                 "parent_id IS NULL", (msg.conversation_id,)).fetchone()
            else:
                row = db.execute("SELECT max(id) FROM messages WHERE parent_id = ?",
                                 (msg.parent_id,)).fetchone()
            if row[0] is not None:
                self._activate(db, msg.conversation_id, msg.parent_id, row[0])

    @staticmethod
    def _activate(db: sqlite3.Connection, conversation_id: int, parent_id: int | None, child: int) -> None:
        if parent_id is None:
            db.execute("UPDATE conversations SET active_root_id = ? WHERE id = ?", (child, conversation_id))
        else:
            db.execute("UPDATE messages SET active_child_id = ? WHERE id = ?", (child, parent_id))

    def restore_selection(self, conversation_id: int, active_root_id: int | None,
                          active_children: dict[int, int | None]) -> None:
        """Set which branch is shown everywhere at once (used by import)."""
        with self._write() as db:
            db.execute("UPDATE conversations SET active_root_id = ? WHERE id = ?",
                       (active_root_id, conversation_id))
            db.executemany("UPDATE messages SET active_child_id = ? WHERE id = ?",
                           [(child, parent) for parent, child in active_children.items()])

    def set_times(self, conversation_id: int, created: float, updated: float) -> None:
        with self._write() as db:
            db.execute("UPDATE conversations SET created = ?, updated = ? WHERE id = ?",
                       (created, updated, conversation_id))

    # Window state that belongs with the history (which chat was open), not with settings

    def state(self, key: str, default: str = "") -> str:
        rows = self.query("SELECT value FROM app_state WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_state(self, key: str, value: str, durable: bool = True) -> None:
        with self._write(durable) as db:
            db.execute("INSERT INTO app_state (key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # Health

    def integrity_check(self) -> str:
        """'ok' for a healthy file; otherwise SQLite's own description of the damage."""
        return "\n".join(r[0] for r in self.query("PRAGMA integrity_check"))

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])
