"""Full-text search over the conversation history (SQLite FTS5).

What a person types is never passed to FTS5 as query syntax: a stray quote or a word like NEAR
would be a syntax error or a surprise. Each word becomes a quoted prefix term ("pyth"* finds
"Python"), all words must match, and reasoning is searched only when asked, because it is the
model's scratch work and would otherwise swamp the results.

Hits carry a short snippet with the matched words as (start, end) offsets, so the sidebar and the
CLI can highlight without parsing markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fireside.core.history.store import Store

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use marks that never occur in real text
_WORD = re.compile(r"\w+", re.UNICODE)
SNIPPET_TOKENS = 14


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int | None  # None: the title matched
    title: str
    field: str  # "title" | "text" | "reasoning"
    role: str  # "" for a title hit
    snippet: str
    highlights: tuple[tuple[int, int], ...]  # offsets into `snippet`


def fts_query(text: str) -> str:
    """A safe FTS5 query: every word of `text` as a quoted prefix term. Empty when no words."""
    return " ".join(f'"{word}"*' for word in _WORD.findall(text))


def _unmark(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    length, start = 0, -1
    for part in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if part == _OPEN:
            start = length
        elif part == _CLOSE:
            if start >= 0:
                spans.append((start, length))
            start = -1
        else:
            out.append(part)
            length += len(part)
    return "".join(out), tuple(spans)


def search(store: Store, text: str, include_reasoning: bool = False, limit: int = 50) -> list[SearchHit]:
    """Titles first (a chat named after the topic is the likeliest target), then messages by rank."""
    query = fts_query(text)
    if not query:
        return []
    hits: list[SearchHit] = []
    for cid, title_marked in store.query(
        f"SELECT rowid, highlight(conversations_fts, 0, '{_OPEN}', '{_CLOSE}') FROM conversations_fts "
        "WHERE conversations_fts MATCH ? ORDER BY rank LIMIT ?", (query, limit)):
        title, spans = _unmark(title_marked)
        hits.append(SearchHit(cid, None, title, "title", "", title, spans))

    message_query = query if include_reasoning else f"text : ({query})"
    rows = store.query(
        f"SELECT m.id, m.conversation_id, c.title, m.role, "
        f"snippet(messages_fts, 0, '{_OPEN}', '{_CLOSE}', '…', {SNIPPET_TOKENS}), "
        f"snippet(messages_fts, 1, '{_OPEN}', '{_CLOSE}', '…', {SNIPPET_TOKENS}) "
        "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
        "JOIN conversations c ON c.id = m.conversation_id "
        "WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?", (message_query, limit))
    for mid, cid, title, role, text_marked, reasoning_marked in rows:
        field, marked = "text", text_marked
        if _OPEN not in text_marked and include_reasoning:
            field, marked = "reasoning", reasoning_marked
        snippet, spans = _unmark(marked)
        hits.append(SearchHit(cid, mid, title, field, role, snippet, spans))
    return hits[:limit]


def match_offsets(text: str, query: str) -> list[tuple[int, int]]:
    """Where the words of `query` occur in `text` (as word prefixes, any case): for highlighting
    the hit in the opened conversation the same way the search matched it."""
    words = [re.escape(w) for w in _WORD.findall(query)]
    if not words:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(words) + r")\w*", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]
