"""Search (FTS5, reasoning only on request, safe against query syntax) and export/import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.history.export import BadExportFile, dumps, export_json, export_markdown, import_json
from fireside.core.history.search import fts_query, match_offsets, search
from fireside.core.history.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "history.sqlite3") as s:
        yield s


def _branched(store: Store) -> int:
    cid = store.create_conversation(system_prompt="Be brief.", model="gpt-oss-20b", effort="high")
    q = store.add_message(cid, None, "user", "Explain Python decorators <b>quickly</b>")
    store.add_message(cid, q, "assistant", "A decorator wraps a function.", "Recall functools.wraps",
                      stats={"answer_tokens": 6, "tokens_per_s": 31.5}, model="gpt-oss-20b", effort="high")
    regen = store.add_message(cid, q, "assistant", "Decorators take a function and return one.",
                              "Think about closures", model="gpt-oss-20b", effort="low")
    store.add_message(cid, regen, "user", "And class decorators?")
    store.update_conversation(cid, pinned=True)
    return cid


def test_search_finds_titles_and_text_with_highlight_offsets(store: Store):
    cid = _branched(store)
    other = store.create_conversation(title="Groceries")
    store.add_message(other, None, "user", "milk, eggs, pythons")
    hits = search(store, "decor")
    assert hits[0].field == "title" and hits[0].conversation_id == cid
    texts = [h for h in hits if h.field == "text"]
    assert {h.conversation_id for h in texts} == {cid}
    for h in hits:
        assert h.highlights
        for start, end in h.highlights:
            assert h.snippet[start:end].lower().startswith("decor")
    # Any case, and words match as prefixes ("python" finds "pythons").
    assert {h.conversation_id for h in search(store, "PYTHON") if h.field == "text"} == {cid, other}


def test_reasoning_is_searched_only_when_asked(store: Store):
    _branched(store)
    assert search(store, "closures") == []
    hits = search(store, "closures", include_reasoning=True)
    assert len(hits) == 1 and hits[0].field == "reasoning"
    assert hits[0].snippet[slice(*hits[0].highlights[0])] == "closures"


@pytest.mark.parametrize("query", ['"', "NEAR(", "a AND OR", "*", "col:umn", "''", "   "])
def test_query_syntax_in_user_input_never_errors(store: Store, query: str):
    _branched(store)
    search(store, query)  # no sqlite3.OperationalError
    assert fts_query("   ") == ""


def test_match_offsets_for_highlighting_in_the_open_chat():
    text = "Decorators wrap; a decorator returns."
    spans = match_offsets(text, "decorator")
    assert [text[s:e] for s, e in spans] == ["Decorators", "decorator"]


def test_json_round_trip_is_identical_after_wipe_and_import(tmp_path: Path):
    with Store(tmp_path / "a.sqlite3") as a:
        _branched(a)
        extra = a.create_conversation(title="Empty chat")
        assert extra
        first = dumps(export_json(a))
    data = json.loads(first)
    conv = data["conversations"][0]
    assert len(conv["messages"]) == 4 and conv["pinned"] is True
    assert conv["messages"][1]["stats"] == {"answer_tokens": 6, "tokens_per_s": 31.5}
    assert conv["messages"][2]["effort"] == "low" and conv["messages"][0]["active_child"] == 3
    (tmp_path / "a.sqlite3").unlink()
    with Store(tmp_path / "b.sqlite3") as b:
        b.create_conversation(title="already here")  # ids in the new file differ; JSON must not
        b.delete_conversation(b.conversations()[0].id)
        import_json(b, data)
        second = dumps(export_json(b))
        assert second == first
        cid = b.conversations()[0].id
        assert [m.text for m in b.active_path(cid)][-1] == "And class decorators?"


@pytest.mark.parametrize("bad, reason", [
    ({"format": "something-else"}, "not a Fireside"),
    ({"format": "fireside-conversations", "version": 99, "conversations": []}, "format 99"),
    ({"format": "fireside-conversations", "version": 1,
      "conversations": [{"messages": [{"id": 1, "parent": 7, "role": "user", "text": "x"}]}]}, "parent"),
    ({"format": "fireside-conversations", "version": 1,
      "conversations": [{"messages": [{"id": 1, "role": "robot"}]}]}, "unknown role"),
])
def test_bad_import_names_the_problem_and_adds_nothing(store: Store, bad: dict, reason: str):
    with pytest.raises(BadExportFile, match=reason):
        import_json(store, bad)
    assert store.conversations() == []


def test_markdown_has_the_shown_branch_and_folded_reasoning(store: Store):
    cid = _branched(store)
    md = export_markdown(store, cid)
    assert md.startswith("# Explain Python decorators")
    assert "> **System prompt:** Be brief." in md
    assert "<details>\n<summary>Reasoning</summary>\n\nThink about closures\n\n</details>" in md
    assert "Decorators take a function" in md and "A decorator wraps" not in md  # other branch
    assert md.index("### You") < md.index("### Assistant (gpt-oss-20b)")
    store.add_message(cid, store.active_path(cid)[-1].id, "assistant", "x", "</details><script>")
    assert "&lt;/details&gt;&lt;script&gt;" in export_markdown(store, cid)


def test_an_export_from_before_outcomes_imports_with_them(store: Store):
    from fireside.core.chat.events import CallOutcome
    from fireside.core.chat.session import DECLINED

    data = {"format": "fireside-conversations", "version": 1,
            "conversations": [{"active_root": 1, "messages": [
        {"id": 1, "role": "user", "text": "tidy up", "active_child": 2},
        {"id": 2, "parent": 1, "role": "tool", "text": DECLINED, "stats": {"error": True},
         "active_child": 3,
         "tool_name": "python", "call_id": "call_1"},
        {"id": 3, "parent": 2, "role": "tool", "text": "done", "stats": {"error": False},
         "tool_name": "python", "call_id": "call_2"}]}]}
    [cid] = import_json(store, data)
    assert [CallOutcome.saved(m.stats) for m in store.active_path(cid)[1:]] == [
        CallOutcome.DECLINED, CallOutcome.OK]
