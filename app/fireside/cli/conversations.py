"""`fireside conversations list|show|search|export|import`: the history from the terminal.

Kept out of cli.py so the entry point stays a thin dispatcher. Everything here reads and writes
the same SQLite file the window uses (under FIRESIDE_HOME when set). Exit codes follow the CLI
contract: 0 success, 1 the history could not be read or written, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from fireside.core.history.export import (
    BadExportFile,
    dumps,
    export_json,
    export_markdown,
    export_markdown_many,
    import_json,
    read_export_file,
)
from fireside.core.history.store import Conversation, NotFound, SchemaTooNew, Store, StoredMessage, StoreError


class _Bad(Exception):
    """Bad input: exit 2 with this one line."""


def add_parser(sub: Any) -> None:
    """Register the `conversations` subcommand on cli.py's subparsers."""
    conv = sub.add_parser("conversations", help="list, search, export and import your chats")
    verbs = conv.add_subparsers(dest="verb", parser_class=type(conv), required=True)
    p = verbs.add_parser("list", help="every conversation, pinned first, then newest")
    p.add_argument("--json", action="store_true")
    p = verbs.add_parser("show", help="one conversation, the branch on screen")
    p.add_argument("id", type=int)
    p.add_argument("--all-branches", action="store_true", help="every version of every message")
    p.add_argument("--json", action="store_true")
    p = verbs.add_parser("search", help="full-text search of titles and messages")
    p.add_argument("query")
    p.add_argument("--reasoning", action="store_true", help="search the model's reasoning too")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p = verbs.add_parser("export", help="write conversations as JSON (default) or Markdown")
    p.add_argument("ids", type=int, nargs="*", help="conversation ids (default: all)")
    p.add_argument("--markdown", action="store_true", help="readable Markdown instead of JSON")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.add_argument("--json", action="store_true", help="JSON (the default; accepted for symmetry)")
    p = verbs.add_parser("import", help="add the conversations from a JSON export")
    p.add_argument("file", help="a file written by `fireside conversations export` ('-': stdin)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        with Store() as store:
            return _VERBS[args.verb](store, args)
    except (_Bad, NotFound, BadExportFile) as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2
    except (StoreError, SchemaTooNew, OSError) as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def _conv_json(c: Conversation, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, "title": c.title, "created": c.created, "updated": c.updated,
                           "pinned": c.pinned, "system_prompt": c.system_prompt, "model": c.model,
                           "effort": c.effort}
    if count is not None:
        out["messages"] = count
    return out


def _msg_json(store: Store, m: StoredMessage) -> dict[str, Any]:
    siblings = store.siblings(m.id)
    return {"id": m.id, "parent_id": m.parent_id, "role": m.role, "text": m.text,
            "reasoning": m.reasoning, "status": m.status, "stats": m.stats, "model": m.model,
            "effort": m.effort, "created": m.created,
            "branch": [siblings.index(m.id) + 1, len(siblings)]}


def _list(store: Store, args: argparse.Namespace) -> int:
    counts = store.message_counts()
    convs = store.conversations()
    if args.json:
        print(json.dumps([_conv_json(c, counts.get(c.id, 0)) for c in convs], ensure_ascii=False))
        return 0
    if not convs:
        print("No conversations yet.")
    for c in convs:
        pin = "📌 " if c.pinned else ""
        n = counts.get(c.id, 0)
        print(f"{c.id:>5}  {pin}{c.title or 'Untitled'}  ({n} message{'s' * (n != 1)}, {_when(c.updated)})")
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    conv = store.conversation(args.id)
    messages = store.messages(conv.id) if args.all_branches else store.active_path(conv.id)
    if args.json:
        out = _conv_json(conv)
        out["messages"] = [_msg_json(store, m) for m in messages]
        print(json.dumps(out, ensure_ascii=False))
    elif args.all_branches:
        for m in messages:
            print(f"[{m.id} ← {m.parent_id or '-'}] {m.role}: {m.text}")
    else:
        sys.stdout.write(export_markdown(store, conv.id))
    return 0


def _search(store: Store, args: argparse.Namespace) -> int:
    from fireside.core.history.search import search

    if args.limit <= 0:
        raise _Bad("--limit must be a positive number.")
    hits = search(store, args.query, include_reasoning=args.reasoning, limit=args.limit)
    if args.json:
        print(json.dumps([{"conversation_id": h.conversation_id, "message_id": h.message_id,
                           "title": h.title, "field": h.field, "role": h.role, "snippet": h.snippet,
                           "highlights": [list(s) for s in h.highlights]} for h in hits],
                         ensure_ascii=False))
        return 0
    if not hits:
        print("No matches.")
    for h in hits:
        where = "title" if h.message_id is None else f"{h.field}, message {h.message_id}"
        print(f"{h.conversation_id:>5}  {h.title or 'Untitled'} ({where}): {' '.join(h.snippet.split())}")
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    ids = args.ids or None
    if ids:
        for cid in ids:
            store.conversation(cid)  # NotFound: exit 2 before writing anything
    text = export_markdown_many(store, ids) if args.markdown else dumps(export_json(store, ids))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _import(store: Store, args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _Bad(f"Cannot read {args.file}: {getattr(e, 'strerror', None) or e}.") from None
    ids = import_json(store, read_export_file(raw, args.file))
    if args.json:
        print(json.dumps({"imported": ids}))
    else:
        print(f"Imported {len(ids)} conversation{'s' * (len(ids) != 1)}.")
    return 0


_VERBS = {"list": _list, "show": _show, "search": _search, "export": _export, "import": _import}
