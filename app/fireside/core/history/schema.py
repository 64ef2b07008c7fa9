"""The conversation database's schema and its forward migrations.

The schema version lives in `PRAGMA user_version`. Each migration takes the database from version
N to N+1 inside one transaction, so a crash mid-upgrade leaves the old version intact and the next
start simply tries again. Migrations only ever move forward: a database written by a newer Fireside
is refused with a message rather than silently damaged by an older one.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

# Version 1: the first shipped shape (kept verbatim; tests build a v1 file from it and migrate it).
SCHEMA_V1 = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
"""

# Version 2: per-conversation settings, per-message stats/model/effort/status, branch selection,
# a small key-value table for window state (the chat open at exit), and full-text search.
# Reasoning is its own FTS column so a search can include or skip it.
_V1_TO_V2 = """
ALTER TABLE conversations ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN effort TEXT NOT NULL DEFAULT 'medium';
ALTER TABLE conversations ADD COLUMN active_root_id INTEGER
    REFERENCES messages(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN stats TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN effort TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'done';
ALTER TABLE messages ADD COLUMN active_child_id INTEGER REFERENCES messages(id) ON DELETE SET NULL;
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX conversations_by_update ON conversations(pinned DESC, updated DESC);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, reasoning, content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text, reasoning) VALUES (new.id, new.text, new.reasoning);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text, reasoning)
        VALUES ('delete', old.id, old.text, old.reasoning);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, reasoning ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text, reasoning)
        VALUES ('delete', old.id, old.text, old.reasoning);
    INSERT INTO messages_fts(rowid, text, reasoning) VALUES (new.id, new.text, new.reasoning);
END;
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    title, content='conversations', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild');
"""


def _v1_to_v2(db: sqlite3.Connection) -> None:
    for statement in _split(_V1_TO_V2):
        db.execute(statement)
    # In v1 the newest child was the one shown; keep showing it after the upgrade.
    db.execute(
        """UPDATE messages SET active_child_id =
               (SELECT max(c.id) FROM messages c WHERE c.parent_id = messages.id)"""
    )
    db.execute(
        """UPDATE conversations SET active_root_id =
               (SELECT max(m.id) FROM messages m
                 WHERE m.conversation_id = conversations.id AND m.parent_id IS NULL)"""
    )


def _create_v1(db: sqlite3.Connection) -> None:
    for statement in _split(SCHEMA_V1):
        db.execute(statement)


# Version 3: tool use. An assistant message may carry the calls it made (OpenAI's tool_calls shape,
# as JSON: recipient, arguments, call_id, channel, content_type); a "tool" message is a result,
# with the recipient it answers and the call's id. Its output is in `text`, so search finds it.
_V2_TO_V3 = """
ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN tool_name TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN call_id TEXT NOT NULL DEFAULT '';
"""


def _v2_to_v3(db: sqlite3.Connection) -> None:
    for statement in _split(_V2_TO_V3):
        db.execute(statement)


# Version 4: responses the local API server stored (`store: true`), so a client's
# `previous_response_id` still works after Fireside restarts. `input` is the whole conversation
# the response answered (earlier responses' input and output merged in), as Responses API items.
_V3_TO_V4 = """
CREATE TABLE api_responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    instructions TEXT,
    input TEXT NOT NULL,
    response TEXT NOT NULL
);
"""


def _v3_to_v4(db: sqlite3.Connection) -> None:
    for statement in _split(_V3_TO_V4):
        db.execute(statement)


# Version 5: a tool result's stats say how the call ended (`"outcome"`: "ok", "error",
# "declined", "stopped", "unavailable", "cut_off"; events.CallOutcome), so nothing compares the
# output's words. Results saved before it get theirs from the sentences Fireside wrote then.
_LEGACY_OUTCOMES = {  # verbatim, as versions before 5 saved them; never edit
    "The user declined to run this tool call.": "declined",
    "The user stopped the reply before this tool call ran.": "stopped",
    "No tools can run in this conversation.": "unavailable",
    ("This tool call was cut off before it was complete (the reply reached its length "
     "limit), so it was not run."): "cut_off",
}


def legacy_tool_outcome(text: str, stats: dict[str, Any]) -> str:
    """The outcome of a tool result saved (or exported) before outcomes were recorded."""
    if not stats.get("error"):
        return "ok"
    return _LEGACY_OUTCOMES.get(text, "error")


def _v4_to_v5(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT id, text, stats FROM messages WHERE role = 'tool'").fetchall()
    for message_id, text, stats_json in rows:
        try:
            stats = json.loads(stats_json or "{}")
        except json.JSONDecodeError:
            continue  # damaged stats stay as they are; the result reads as failed or not by them
        if not isinstance(stats, dict) or "outcome" in stats:
            continue
        stats["outcome"] = legacy_tool_outcome(text, stats)
        db.execute("UPDATE messages SET stats = ? WHERE id = ?", (json.dumps(stats), message_id))


# Version 6: stored responses are conversations too. Each stored response records the
# conversation and the last message it wrote there (`previous_response_id` continues from that
# message; two responses continuing the same one are branches); `conversations.source` is 'api'
# for a conversation the local API server started, so the sidebar can say where it came from.
_V5_TO_V6 = """
ALTER TABLE api_responses ADD COLUMN conversation_id INTEGER;
ALTER TABLE api_responses ADD COLUMN message_id INTEGER;
ALTER TABLE conversations ADD COLUMN source TEXT NOT NULL DEFAULT '';
"""


def _v5_to_v6(db: sqlite3.Connection) -> None:
    for statement in _split(_V5_TO_V6):
        db.execute(statement)


# MIGRATIONS[n] takes a database at version n to n + 1 (version 0 is an empty file).
MIGRATIONS = (_create_v1, _v1_to_v2, _v2_to_v3, _v3_to_v4, _v4_to_v5, _v5_to_v6)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The file was written by a newer Fireside; opening it here could lose data."""


def _split(script: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies (which contain ';') whole."""
    statements: list[str] = []
    current = ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


def migrate(db: sqlite3.Connection) -> int:
    """Bring `db` (in autocommit mode) to SCHEMA_VERSION, one transaction per step. Returns the
    version the file had before."""
    start: int = db.execute("PRAGMA user_version").fetchone()[0]
    if start > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"This history was saved by a newer version of Fireside (format {start}); "
            f"this version understands up to format {SCHEMA_VERSION}. Update Fireside to open it."
        )
    version = start
    while version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                MIGRATIONS[version](db)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return start
