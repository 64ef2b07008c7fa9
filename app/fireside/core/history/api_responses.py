"""Responses the local API server keeps (`store: true`), in the conversation database, and the
conversations they make.

A client continues a conversation with `previous_response_id`; the response, and the whole input
it answered, are kept in table `api_responses` (schema version 4) so that still works after
Fireside restarts. Each stored response is also written as messages of a conversation
(schema version 6): the first of a chain starts a conversation marked `source = 'api'`, one with
`previous_response_id` adds its new input and its output under the message where the previous
one ended (two responses continuing the same one are two branches). So the window's sidebar,
search and export see them, and the window can open and continue them like any chat, with the
reasoning and function calls each response produced. Thread-safe as `Store` is.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from fireside.core.chat.openai_format import OpenAIFormatError
from fireside.core.chat.openai_items import messages_from_items
from fireside.core.history.store import Store, StoreError

SOURCE = "api"


@dataclass(frozen=True)
class StoredResponse:
    id: str
    instructions: str | None
    input_items: list[dict[str, Any]]
    response: dict[str, Any]
    conversation_id: int | None = None  # where it was written in the history (None: before v6)


def save_response(store: Store, response: dict[str, Any], instructions: str | None,
                  input_items: list[dict[str, Any]], *, new_items: list[dict[str, Any]] | None = None,
                  previous_id: str | None = None) -> int | None:
    """Keep `response` (answering `input_items`, the whole chain) and write it as a conversation.
    `new_items` is what this request added (None: all of `input_items`). Returns the conversation
    it was written to, or None when its items could not be read as a conversation (it is still
    kept for `previous_response_id`)."""
    try:
        with store.batch():
            store.query(
                "INSERT OR REPLACE INTO api_responses (id, created, model, instructions, input, "
                "response) VALUES (?, ?, ?, ?, ?, ?)",
                (response["id"], float(response.get("created_at") or 0), str(response.get("model")),
                 instructions, json.dumps(input_items, ensure_ascii=False),
                 json.dumps(response, ensure_ascii=False)))
            written = _write_conversation(store, response, instructions, input_items,
                                          new_items, previous_id)
            if written is not None:
                store.query("UPDATE api_responses SET conversation_id = ?, message_id = ? WHERE id = ?",
                            (*written, response["id"]))
            return written[0] if written else None
    except sqlite3.Error as exc:
        raise StoreError(f"Could not keep the response: {exc}") from exc


def _write_conversation(store: Store, response: dict[str, Any], instructions: str | None,
                        input_items: list[dict[str, Any]], new_items: list[dict[str, Any]] | None,
                        previous_id: str | None) -> tuple[int, int] | None:
    """(conversation id, last message id) after writing this response's messages."""
    link = _link(store, previous_id) if previous_id else None
    items = input_items if link is None or new_items is None else new_items
    output = list(response.get("output") or [])
    try:
        leading, asked = messages_from_items(items)
        _ignored, answered = messages_from_items(output, "output")
    except OpenAIFormatError:
        return None  # the server checked the input; this is only a response it cannot show
    names = _call_names([*input_items, *output])
    model = str(response.get("model") or "")
    effort = str((response.get("reasoning") or {}).get("effort") or "medium")
    created = float(response.get("created_at") or 0) or None
    if link is None:
        system = "\n\n".join(s for s in (instructions, *leading) if s)
        cid, parent = store.create_conversation(system_prompt=system, model=model, effort=effort,
                                                created=created, source=SOURCE), None
    else:
        cid, parent = link
    last = parent
    for n, m in enumerate((*asked, *answered)):
        final = n == len(asked) + len(answered) - 1
        last = store.add_message(
            cid, last, m.role, m.text, m.reasoning, created=created, tool_calls=m.tool_calls,
            tool_name=m.tool_name or names.get(m.call_id, ""), call_id=m.call_id,
            model=model if m.role == "assistant" else "", effort=effort if m.role == "assistant" else "",
            stats=_stats(response) if final and m.role == "assistant" else None,
            status=_status(response) if m.role == "assistant" else "done")
    return (cid, last) if last is not None else None


def _link(store: Store, previous_id: str) -> tuple[int, int] | None:
    """Where the previous response ended in the history, if that message still exists."""
    rows = store.query(
        "SELECT a.conversation_id, a.message_id FROM api_responses a JOIN messages m "
        "ON m.id = a.message_id AND m.conversation_id = a.conversation_id WHERE a.id = ?",
        (previous_id,))
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def _call_names(items: list[dict[str, Any]]) -> dict[str, str]:
    """call_id -> harmony recipient, for function_call_output items (which carry only the id)."""
    return {str(i["call_id"]): f"functions.{i.get('name')}" for i in items
            if isinstance(i, dict) and i.get("type") == "function_call" and i.get("call_id")}


def _stats(response: dict[str, Any]) -> dict[str, Any]:
    usage = response.get("usage") or {}
    reasoning = int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    calls = any(i.get("type") == "function_call" for i in response.get("output") or [])
    stop = ("tool_call" if calls else "length" if response.get("status") == "incomplete" else "end")
    return {"prompt_tokens": int(usage.get("input_tokens") or 0), "reasoning_tokens": reasoning,
            "answer_tokens": int(usage.get("output_tokens") or 0) - reasoning, "stop_reason": stop,
            "response_id": response.get("id", "")}


def _status(response: dict[str, Any]) -> str:
    return "done" if response.get("status") in ("completed", "incomplete") else "error"


def load_response(store: Store, response_id: str) -> StoredResponse | None:
    try:
        rows = store.query("SELECT instructions, input, response, conversation_id FROM api_responses "
                           "WHERE id = ?", (response_id,))
    except sqlite3.Error as exc:
        raise StoreError(f"Could not read the stored responses: {exc}") from exc
    if not rows:
        return None
    instructions, items, response, cid = rows[0]
    return StoredResponse(response_id, instructions, json.loads(items), json.loads(response), cid)

