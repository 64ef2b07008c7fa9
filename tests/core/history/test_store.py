"""The conversation store on a real SQLite file: schema, migrations, branches, crash-safe partials,
and readers on other connections while a writer writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.config.paths import app_paths
from fireside.core.history.recorder import ReplyRecorder
from fireside.core.history.schema import SCHEMA_VERSION
from fireside.core.history.store import NotFound, SchemaTooNew, Store, make_title

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "history.sqlite3") as s:
        yield s


def test_default_location_is_the_data_dir_with_wal_and_foreign_keys(fireside_home: Path):
    with Store() as s:
        assert s.path == app_paths().data / "conversations.sqlite3"
        assert s.path.is_file()
        assert s.query("PRAGMA journal_mode")[0][0] == "wal"
        assert s.query("PRAGMA foreign_keys")[0][0] == 1
        assert s.schema_version() == SCHEMA_VERSION
        assert s.integrity_check() == "ok"


def test_v1_file_is_migrated_keeping_data_and_the_newest_branch(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "store_v1.sql").read_text())
    db.close()
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        convs = s.conversations()
        assert [c.title for c in convs] == ["Tax questions", "Sourdough starter"]  # pinned first
        assert convs[0].pinned and convs[1].effort == "medium"
        path_ids = [m.id for m in s.active_path(1)]
        assert path_ids == [1, 3]  # v1 showed the newest reply; so do we
        assert s.siblings(3) == [2, 3]
        assert s.message(2).reasoning == "The user bakes bread." and s.message(2).stats == {}
        # The old rows are searchable after the upgrade.
        from fireside.core.history.search import search

        assert [h.message_id for h in search(s, "flour")] in ([2, 3], [3, 2])
        assert s.integrity_check() == "ok"
    with Store(path) as again:  # opening an up-to-date file is a no-op
        assert again.schema_version() == SCHEMA_VERSION


def test_a_file_from_a_newer_fireside_is_refused(tmp_path: Path):
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(SchemaTooNew, match="newer version of Fireside"):
        Store(path)


def test_title_comes_from_the_first_user_message(store: Store):
    cid = store.create_conversation()
    text = "  What is\nthe best way to learn the cello as an adult beginner, honestly?"
    store.add_message(cid, None, "user", text)
    title = store.conversation(cid).title
    assert title.startswith("What is the best way to learn the cello") and title.endswith("…")
    assert len(title) <= 61
    assert make_title("short") == "short"


def test_list_is_pinned_first_then_newest(tmp_path: Path):
    now = [100.0]
    with Store(tmp_path / "h.sqlite3", clock=lambda: now[0]) as s:
        ids = []
        for n in range(3):
            now[0] += 10
            ids.append(s.create_conversation(title=f"chat {n}"))
        now[0] += 10
        s.add_message(ids[0], None, "user", "bump")  # a new message moves a chat up
        s.update_conversation(ids[1], pinned=True)
        assert [c.id for c in s.conversations()] == [ids[1], ids[0], ids[2]]
        s.update_conversation(ids[2], title="renamed")  # renaming does not reorder
        assert [c.id for c in s.conversations()] == [ids[1], ids[0], ids[2]]
        assert s.conversation(ids[2]).title == "renamed"
        with pytest.raises(ValueError, match="Cannot change"):
            s.update_conversation(ids[2], created=1.0)


def test_branches_switch_and_keep_their_own_descendants(store: Store):
    cid = store.create_conversation()
    q1 = store.add_message(cid, None, "user", "first question")
    a1 = store.add_message(cid, q1, "assistant", "first answer", "thinking A")
    q2 = store.add_message(cid, a1, "user", "follow-up")
    a2 = store.add_message(cid, q2, "assistant", "follow-up answer")
    edited = store.add_message(cid, None, "user", "first question, edited")  # edit = sibling
    b1 = store.add_message(cid, edited, "assistant", "answer to edit", "thinking B")
    assert [m.id for m in store.active_path(cid)] == [edited, b1]
    assert store.siblings(q1) == [q1, edited]
    store.select(q1)  # "< 1/2": the old branch comes back whole, reasoning included
    path = store.active_path(cid)
    assert [m.id for m in path] == [q1, a1, q2, a2]
    assert path[1].reasoning == "thinking A"
    regen = store.add_message(cid, q1, "assistant", "second try")
    assert [m.id for m in store.active_path(cid)] == [q1, regen]
    store.select(a1)
    assert [m.id for m in store.active_path(cid)] == [q1, a1, q2, a2]
    store.delete_message(a1)  # deletes its subtree, shows the remaining sibling
    assert [m.id for m in store.active_path(cid)] == [q1, regen]
    with pytest.raises(NotFound):
        store.message(a2)


def test_parent_must_belong_to_the_conversation(store: Store):
    one, two = store.create_conversation(), store.create_conversation()
    q = store.add_message(one, None, "user", "hi")
    with pytest.raises(NotFound):
        store.add_message(two, q, "assistant", "wrong chat")
    with pytest.raises(NotFound):
        store.add_message(999, None, "user", "no chat")


def test_deleting_a_conversation_removes_its_messages(store: Store):
    cid = store.create_conversation()
    q = store.add_message(cid, None, "user", "hello")
    store.add_message(cid, q, "assistant", "hi")
    store.delete_conversation(cid)
    assert store.conversations() == []
    assert store.query("SELECT count(*) FROM messages")[0][0] == 0
    assert store.query("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'hello'")[0][0] == 0


def test_partial_reply_is_visible_to_another_connection_before_finish(store: Store):
    cid = store.create_conversation()
    q = store.add_message(cid, None, "user", "tell me a story")
    rid = store.start_reply(cid, q, model="gemma", effort="low")
    ticks = [0.0]
    rec = ReplyRecorder(store, rid, interval_s=0.5, clock=lambda: ticks[0])
    assert not rec.add(answer="Once")  # too soon: kept in memory
    ticks[0] = 0.6
    assert rec.add(reasoning="plan", answer=" upon")
    reader = sqlite3.connect(store.path)
    try:
        row = reader.execute("SELECT text, reasoning, status FROM messages WHERE id = ?", (rid,)).fetchone()
        assert row == ("Once upon", "plan", "partial")
        rec.add(answer=" a time")
        rec.finish({"answer_tokens": 4}, status="done")
        row = reader.execute("SELECT text, status, stats FROM messages WHERE id = ?", (rid,)).fetchone()
        assert row == ("Once upon a time", "done", '{"answer_tokens": 4}')
    finally:
        reader.close()
    assert rec.flushes == 1


def test_reader_sees_committed_data_while_a_writer_thread_writes(store: Store):
    """A writer thread streams a reply (many commits); the main thread, on its own connection,
    reads the growing row without ever waiting for the writer or seeing a torn value."""
    cid = store.create_conversation()
    q = store.add_message(cid, None, "user", "count")
    rid = store.start_reply(cid, q)
    started, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            text = ""
            for n in range(300):
                text += f"{n} "
                store.update_partial(rid, text, "")
                started.set()
            store.finish(rid, text, "", {"answer_tokens": 300})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            started.set()
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(10)
    seen: list[str] = []
    while not done.is_set():
        text = store.message(rid).text
        assert text == "" or text.endswith(" ")  # whole commits only
        seen.append(text)
    thread.join()
    assert not errors
    assert store.message(rid).status == "done"
    assert store.message(rid).text.startswith("0 1 2 ")
    assert len(store._connections) == 2  # one per thread


def test_window_state_survives_reopening(tmp_path: Path):
    with Store(tmp_path / "h.sqlite3") as s:
        assert s.state("open_conversation") == ""
        s.set_state("open_conversation", "3")
        s.set_state("open_conversation", "4")
    with Store(tmp_path / "h.sqlite3") as s:
        assert s.state("open_conversation") == "4"


def test_recorder_replace_takes_the_whole_text_and_throttles(store: Store):
    cid = store.create_conversation()
    rid = store.start_reply(cid, store.add_message(cid, None, "user", "q"))
    ticks = [0.0]
    rec = ReplyRecorder(store, rid, interval_s=0.5, clock=lambda: ticks[0])
    assert not rec.replace("Hel", "")
    ticks[0] = 1.0
    assert rec.replace("Hello", "hm")
    assert (store.message(rid).text, store.message(rid).reasoning) == ("Hello", "hm")
    ticks[0] = 2.0
    assert not rec.replace("Hello", "hm")  # nothing new: no write
    assert rec.flushes == 1


def test_a_batch_is_one_transaction_that_commits_or_rolls_back_whole(store: Store, tmp_path: Path):
    other = sqlite3.connect(store.path)
    with store.batch():
        cid = store.create_conversation()
        store.set_state("open", str(cid))
        store.add_message(cid, None, "user", "hello")
        # nothing is visible to another connection until the batch commits
        assert other.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert other.execute("SELECT count(*) FROM messages").fetchone()[0] == 1

    with pytest.raises(NotFound), store.batch():
        store.add_message(cid, None, "user", "kept only if the batch commits")
        store.add_message(cid, 999_999, "user", "no such parent")
    assert [m.text for m in store.messages(cid)] == ["hello"]
    other.close()


def _sync_level(store: Store) -> int:
    return store.query("PRAGMA synchronous")[0][0]


def test_partial_updates_skip_the_disk_wait_but_the_connection_stays_durable(store: Store):
    cid = store.create_conversation()
    q = store.add_message(cid, None, "user", "hi")
    mid = store.start_reply(cid, q)
    assert _sync_level(store) == 2  # FULL again after the non-durable start_reply
    store.update_partial(mid, "par", "", durable=False)
    assert _sync_level(store) == 2
    assert store.message(mid).text == "par"


def test_the_recorder_makes_one_flush_in_several_seconds_durable(store: Store, monkeypatch):
    cid = store.create_conversation()
    mid = store.start_reply(cid, store.add_message(cid, None, "user", "hi"))
    calls: list[bool] = []
    real = store.update_partial
    monkeypatch.setattr(store, "update_partial",
                        lambda m, t, r, durable=True: (calls.append(durable), real(m, t, r, durable))[1])
    now = [0.0]
    rec = ReplyRecorder(store, mid, interval_s=0.5, clock=lambda: now[0])
    for _ in range(24):  # 12 s of tokens, a flush every half second
        now[0] += 0.5
        rec.add(answer="x")
    assert len(calls) == 24 and calls[0] is True
    assert calls.count(True) == 3  # at 0.5 s, 5.5 s and 10.5 s
    assert store.message(mid).text == "x" * 24


def test_v4_tool_results_get_their_outcome_from_what_fireside_wrote_then(tmp_path: Path):
    from fireside.core.chat.events import CallOutcome
    from fireside.core.chat.session import CUT_OFF, DECLINED, NO_TOOLS, STOPPED
    from fireside.core.history.schema import MIGRATIONS

    path = tmp_path / "v4.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:4]:
        step(db)
    db.execute("PRAGMA user_version = 4")
    db.execute("INSERT INTO conversations (id, title, created, updated) VALUES (1, 't', 0, 0)")
    rows = [(DECLINED, '{"error": true}'), (STOPPED, '{"error": true}'), (NO_TOOLS, '{"error": true}'),
            (CUT_OFF, '{"error": true}'), ("Traceback: boom", '{"error": true, "duration_s": 0.2}'),
            ("42", '{"error": false, "duration_s": 0.1}'), ("damaged", "not json")]
    for i, (text, stats) in enumerate(rows, start=1):
        db.execute("INSERT INTO messages (id, conversation_id, parent_id, role, text, stats, created) "
                   "VALUES (?, 1, ?, 'tool', ?, ?, 0)", (i, i - 1 or None, text, stats))
    db.close()
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        outcomes = [s.query("SELECT stats FROM messages WHERE id = ?", (i,))[0][0]
                    for i in range(1, len(rows) + 1)]
        assert [CallOutcome.saved(s.message(i).stats) for i in range(1, 7)] == [
            CallOutcome.DECLINED, CallOutcome.STOPPED, CallOutcome.UNAVAILABLE, CallOutcome.CUT_OFF,
            CallOutcome.ERROR, CallOutcome.OK]
        assert s.message(5).stats == {"error": True, "duration_s": 0.2, "outcome": "error"}
        assert outcomes[-1] == "not json"  # left as it was


def test_the_recorder_writes_the_text_it_shares_with_the_streaming_step(store: Store):
    from fireside.core.history.recorder import ReplyText

    cid = store.create_conversation()
    rid = store.start_reply(cid, store.add_message(cid, None, "user", "q"))
    ticks = [0.0]
    reply = ReplyText()
    rec = ReplyRecorder(store, rid, interval_s=0.5, clock=lambda: ticks[0], reply=reply)
    reply.add(reasoning="hm", answer="Hel")  # the step adds; the recorder holds no copy
    assert not rec.flush_if_due()
    ticks[0] = 1.0
    reply.add(answer="lo")
    assert rec.flush_if_due() and rec.text == "Hello"
    assert (store.message(rid).text, store.message(rid).reasoning) == ("Hello", "hm")
    ticks[0] = 2.0
    assert not rec.flush_if_due()  # nothing new since: no write
    rec.finish({}, "done")
    assert store.message(rid).status == "done" and rec.flushes == 1
