"""Responses the local API server keeps (`store: true`), in the conversation database.

A client continues a conversation with `previous_response_id`; the response, and the whole input
it answered, are kept in table `api_responses` (schema version 3) so that still works after
Fireside restarts. Thread-safe as `Store` is.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from fireside.core.history.store import Store, StoreError


@dataclass(frozen=True)
class StoredResponse:
    id: str
    instructions: str | None
    input_items: list[dict[str, Any]]
    response: dict[str, Any]


def save_response(store: Store, response: dict[str, Any], instructions: str | None,
                  input_items: list[dict[str, Any]]) -> None:
    try:
        with store.batch():
            store.query(
                "INSERT OR REPLACE INTO api_responses (id, created, model, instructions, input, "
                "response) VALUES (?, ?, ?, ?, ?, ?)",
                (response["id"], float(response.get("created_at") or 0), str(response.get("model")),
                 instructions, json.dumps(input_items, ensure_ascii=False),
                 json.dumps(response, ensure_ascii=False)))
    except sqlite3.Error as exc:
        raise StoreError(f"Could not keep the response: {exc}") from exc


def load_response(store: Store, response_id: str) -> StoredResponse | None:
    try:
        rows = store.query("SELECT instructions, input, response FROM api_responses WHERE id = ?",
                           (response_id,))
    except sqlite3.Error as exc:
        raise StoreError(f"Could not read the stored responses: {exc}") from exc
    if not rows:
        return None
    instructions, items, response = rows[0]
    return StoredResponse(response_id, instructions, json.loads(items), json.loads(response))
