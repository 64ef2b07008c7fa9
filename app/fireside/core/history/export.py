"""Export conversations to Markdown (for reading) and JSON (lossless, for import), and import JSON.

The JSON keeps every branch, reasoning, stats, model and effort, and which branch is shown. Message
ids in the file are local to each conversation (1, 2, 3… in creation order), not database ids, so
exporting, wiping, importing and exporting again gives byte-identical JSON, and a file imported
into a history that already has chats does not collide with them.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from fireside.core.history.store import (
    Conversation,
    Store,
    StoredMessage,
    StoreError,
    calls_from_json,
    calls_to_json,
)

FORMAT = "fireside-conversations"
FORMAT_VERSION = 1


class BadExportFile(StoreError):
    """The file is not a Fireside export we can read; the message names the problem."""


def _conversation_json(store: Store, conv: Conversation) -> dict[str, Any]:
    messages = store.messages(conv.id)
    local = {m.id: n for n, m in enumerate(messages, start=1)}
    return {
        "title": conv.title,
        "created": conv.created,
        "updated": conv.updated,
        "pinned": conv.pinned,
        "system_prompt": conv.system_prompt,
        "model": conv.model,
        "effort": conv.effort,
        "active_root": local.get(conv.active_root_id) if conv.active_root_id else None,
        "messages": [
            {
                "id": local[m.id],
                "parent": local[m.parent_id] if m.parent_id is not None else None,
                "role": m.role,
                "text": m.text,
                "reasoning": m.reasoning,
                "stats": m.stats,
                "model": m.model,
                "effort": m.effort,
                "created": m.created,
                "status": m.status,
                "active_child": local.get(m.active_child_id) if m.active_child_id else None,
                **({"tool_calls": json.loads(calls_to_json(m.tool_calls))} if m.tool_calls else {}),
                **({"tool_name": m.tool_name, "call_id": m.call_id} if m.role == "tool" else {}),
            }
            for m in messages
        ],
    }


def export_json(store: Store, conversation_ids: list[int] | None = None) -> dict[str, Any]:
    """All conversations (oldest first) or the given ones, in the order given."""
    if conversation_ids is None:
        convs = sorted(store.conversations(), key=lambda c: (c.created, c.id))
    else:
        convs = [store.conversation(cid) for cid in conversation_ids]
    return {"format": FORMAT, "version": FORMAT_VERSION,
            "conversations": [_conversation_json(store, c) for c in convs]}


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise BadExportFile(f"{where}: {problem}")


def _is_id(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < 1 << 63


def _is_time(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool)
                         and math.isfinite(v) and 0 <= v < 1e11)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _check(data: Any) -> list[dict[str, Any]]:
    _require(isinstance(data, dict) and data.get("format") == FORMAT, "This file",
             "is not a Fireside conversation export.")
    try:  # text the database cannot store (a lone surrogate such as "\ud800" is valid JSON)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        raise BadExportFile("This file: holds text that is not valid Unicode; export it again.") from None
    _require(data.get("version") == FORMAT_VERSION, "This file",
             f"uses export format {data.get('version')!r}; this Fireside reads format {FORMAT_VERSION}.")
    convs: list[dict[str, Any]] = data.get("conversations")
    _require(isinstance(convs, list), "This file", "has no list of conversations.")
    for n, conv in enumerate(convs, start=1):
        where = f"Conversation {n}"
        _require(isinstance(conv, dict) and isinstance(conv.get("messages"), list), where,
                 "has no list of messages.")
        seen: set[int] = set()
        for m in conv["messages"]:
            _require(isinstance(m, dict) and _is_id(m.get("id")), where,
                     "has a message without an id.")
            _require(m.get("role") in ("user", "assistant", "system", "tool"), where,
                     f"message {m['id']} has an unknown role {m.get('role')!r}.")
            _require(isinstance(m.get("text", ""), str) and isinstance(m.get("reasoning", ""), str), where,
                     f"message {m['id']} has text that is not a string.")
            _require(m.get("parent") is None or (_is_id(m["parent"]) and m["parent"] in seen), where,
                     f"message {m['id']} comes before its parent {_short(m.get('parent'))}.")
            _require(m["id"] not in seen, where, f"message id {m['id']} appears twice.")
            _require(m.get("active_child") is None or _is_id(m["active_child"]), where,
                     f"message {m['id']} has a damaged active_child.")
            _require(isinstance(m.get("stats") or {}, dict), where, f"message {m['id']} has damaged stats.")
            for key in ("model", "effort", "status"):
                _require(isinstance(m.get(key, ""), str), where, f"message {m['id']} has a damaged {key}.")
            _require(_is_time(m.get("created")), where, f"message {m['id']} has a damaged time.")
            seen.add(m["id"])
        _require(conv.get("active_root") is None or _is_id(conv["active_root"]), where,
                 "has a damaged active_root.")
        _require(_is_time(conv.get("created")) and _is_time(conv.get("updated")), where,
                 "has a damaged time.")
    return convs


def import_json(store: Store, data: Any) -> list[int]:
    """Add every conversation in `data` as a new one; returns their new ids. The whole file is
    checked before anything is written, so a bad file adds nothing."""
    imported: list[int] = []
    for conv in _check(data):
        cid = store.create_conversation(
            title=str(conv.get("title", "")), system_prompt=str(conv.get("system_prompt", "")),
            model=str(conv.get("model", "")), effort=str(conv.get("effort", "medium")),
            created=conv.get("created"))
        ids: dict[int, int] = {}
        for m in conv["messages"]:
            ids[m["id"]] = store.add_message(
                cid, ids[m["parent"]] if m.get("parent") is not None else None, m["role"],
                m.get("text", ""), m.get("reasoning", ""), stats=m.get("stats") or {},
                model=m.get("model", ""), effort=m.get("effort", ""), status=m.get("status", "done"),
                created=m.get("created"), tool_calls=calls_from_json(m.get("tool_calls")),
                tool_name=str(m.get("tool_name", "")), call_id=str(m.get("call_id", "")))
        children = {ids[m["id"]]: ids.get(m.get("active_child")) for m in conv["messages"]}
        root = conv.get("active_root")
        store.restore_selection(cid, None if root is None else ids.get(root), children)
        store.update_conversation(cid, title=str(conv.get("title", "")), pinned=bool(conv.get("pinned")))
        created = conv.get("created")
        store.set_times(cid, created if created is not None else store.conversation(cid).created,
                        conv.get("updated", created) or store.conversation(cid).updated)
        imported.append(cid)
    return imported


def _fence(text: str, info: str = "") -> list[str]:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [ticks + info, text, ticks, ""]


def _markdown_message(m: StoredMessage) -> list[str]:
    if m.role == "tool":
        failed = " (failed)" if m.stats.get("error") else ""
        return [f"#### Result from {m.tool_name.removeprefix('functions.')}{failed}", "",
                *_fence(m.text)]
    who = "You" if m.role == "user" else ("Assistant" + (f" ({m.model})" if m.model else ""))
    lines = [f"### {who}", ""]
    if m.reasoning:
        lines += ["<details>", "<summary>Reasoning</summary>", "", html.escape(m.reasoning, quote=False),
                  "", "</details>", ""]
    for call in m.tool_calls:
        name = call.recipient.removeprefix("functions.")
        language = "python" if name == "python" else "json"
        lines += [f"**Called {name}:**", "", *_fence(call.arguments, language)]
    if not m.tool_calls or m.text:
        lines += [m.text if m.text else "*(no answer)*", ""]
    if m.status == "partial":
        lines += ["*(This reply was interrupted before it finished.)*", ""]
    return lines


def export_markdown(store: Store, conversation_id: int) -> str:
    """The branch on screen as a readable document; reasoning folds away in <details>."""
    conv = store.conversation(conversation_id)
    lines = [f"# {conv.title or 'Untitled conversation'}", ""]
    if conv.system_prompt:
        lines += ["> **System prompt:** " + conv.system_prompt.replace("\n", "\n> "), ""]
    for m in store.active_path(conversation_id):
        lines += _markdown_message(m)
    return "\n".join(lines).rstrip() + "\n"


def export_markdown_many(store: Store, conversation_ids: list[int] | None = None) -> str:
    """Several conversations (default: all, oldest first) as one document, separated by rules."""
    if conversation_ids is None:
        conversation_ids = [c.id for c in sorted(store.conversations(), key=lambda c: (c.created, c.id))]
    return "\n---\n\n".join(export_markdown(store, cid) for cid in conversation_ids)


def read_export_file(text: str, name: str = "This file") -> dict[str, Any]:
    """Parse an export file's text; BadExportFile with a plain reason when it is not JSON."""
    try:
        data: dict[str, Any] = json.loads(text)  # _check proves it is one
    except json.JSONDecodeError as e:
        raise BadExportFile(f"{name} is not valid JSON (line {e.lineno}); "
                            "export it again from Fireside.") from None
    except (ValueError, RecursionError):  # a number of 5,000 digits; arrays nested 100,000 deep
        raise BadExportFile(f"{name} is not a Fireside conversation export (its JSON is nested too "
                            "deeply or holds an impossibly long number).") from None
    _check(data)
    return data
