"""`fireside conversations …` and the history `fireside chat` keeps, driven as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fireside.core.history.export import dumps, export_json
from fireside.core.history.store import Store


def fireside(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "fireside.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, input=stdin)


def _db(home: Path) -> Path:
    return home / "data" / "conversations.sqlite3"


def _seed(home: Path) -> int:
    with Store(_db(home)) as s:
        cid = s.create_conversation(system_prompt="Be kind.")
        q = s.add_message(cid, None, "user", "Which knot holds a boat to a ring?")
        s.add_message(cid, q, "assistant", "A round turn and two half hitches.", "Mooring knots.",
                      stats={"answer_tokens": 9})
        s.add_message(cid, q, "assistant", "Use a bowline.", "Simpler.")
        other = s.create_conversation(title="Bread")
        s.add_message(other, None, "user", "Rye or wheat?")
        return cid


def test_list_show_search_in_text_and_json(fireside_home: Path):
    cid = _seed(fireside_home)
    listed = json.loads(fireside("conversations", "list", "--json", home=fireside_home).stdout)
    assert [c["title"] for c in listed] == ["Bread", "Which knot holds a boat to a ring?"]
    assert listed[1]["messages"] == 3
    shown = json.loads(fireside("conversations", "show", str(cid), "--json", home=fireside_home).stdout)
    assert [m["text"] for m in shown["messages"]] == ["Which knot holds a boat to a ring?", "Use a bowline."]
    assert shown["messages"][1]["branch"] == [2, 2] and shown["system_prompt"] == "Be kind."
    every = json.loads(fireside("conversations", "show", str(cid), "--all-branches", "--json",
                                home=fireside_home).stdout)
    assert len(every["messages"]) == 3
    text = fireside("conversations", "show", str(cid), home=fireside_home).stdout
    assert "<summary>Reasoning</summary>" in text and "Use a bowline." in text
    hits = json.loads(fireside("conversations", "search", "hitches", "--json", home=fireside_home).stdout)
    assert [(h["conversation_id"], h["field"]) for h in hits] == [(cid, "text")]
    assert fireside("conversations", "search", "mooring", "--json", home=fireside_home).stdout.strip() == "[]"
    hits = json.loads(fireside("conversations", "search", "mooring", "--reasoning", "--json",
                               home=fireside_home).stdout)
    assert [h["field"] for h in hits] == ["reasoning"]
    plain = fireside("conversations", "search", "rye", home=fireside_home)
    assert plain.returncode == 0 and "Bread" in plain.stdout


def test_export_wipe_import_export_is_identical(fireside_home: Path, tmp_path: Path):
    _seed(fireside_home)
    out = tmp_path / "all.json"
    assert fireside("conversations", "export", "-o", str(out), home=fireside_home).returncode == 0
    first = out.read_text(encoding="utf-8")
    for suffix in ("", "-wal", "-shm"):
        Path(str(_db(fireside_home)) + suffix).unlink(missing_ok=True)
    r = fireside("conversations", "import", str(out), home=fireside_home)
    assert r.returncode == 0 and r.stdout.strip() == "Imported 2 conversations."
    again = fireside("conversations", "export", home=fireside_home).stdout
    assert again == first
    md = fireside("conversations", "export", "--markdown", home=fireside_home).stdout
    assert md.count("\n---\n") == 1 and "# Bread" in md


@pytest.mark.parametrize("args, reason", [
    (["show", "42"], "no conversation with id 42"),
    (["show", "first"], "invalid int value"),
    (["export", "7"], "no conversation with id 7"),
    (["import", "/no/such/file.json"], "Cannot read"),
    (["search", "x", "--limit", "0"], "--limit"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(fireside_home: Path, args: list[str], reason: str):
    _seed(fireside_home)
    r = fireside("conversations", *args, home=fireside_home)
    assert r.returncode == 2
    assert reason in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_import_of_a_file_that_is_not_an_export_exits_2(fireside_home: Path, tmp_path: Path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    r = fireside("conversations", "import", str(bad), home=fireside_home)
    assert r.returncode == 2 and "not a Fireside conversation export" in r.stderr
    with Store(_db(fireside_home)) as s:
        assert dumps(export_json(s)).count('"title"') == 0


def test_chat_keeps_the_exchange_unless_told_not_to(tiny_gptoss_path: Path, fireside_home: Path):
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--max-tokens", "12", "--seed", "1", "--json",
                 "Remember me", home=fireside_home)
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout.splitlines()[-1])
    listed = json.loads(fireside("conversations", "list", "--json", home=fireside_home).stdout)
    assert [c["title"] for c in listed] == ["Remember me"]
    shown = json.loads(fireside("conversations", "show", str(listed[0]["id"]), "--json",
                                home=fireside_home).stdout)
    reply = shown["messages"][1]
    assert reply["status"] == "done" and reply["stats"] == done["stats"]
    assert reply["model"] == tiny_gptoss_path.stem
    fireside("chat", "--model", str(tiny_gptoss_path), "--max-tokens", "4", "--no-save", "Forget me",
             home=fireside_home)
    assert len(json.loads(fireside("conversations", "list", "--json", home=fireside_home).stdout)) == 1


@pytest.mark.slow
def test_sigkill_mid_reply_keeps_the_question_and_a_partial_answer(gemma_path: Path, fireside_home: Path):
    env = {**os.environ, "FIRESIDE_HOME": str(fireside_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireside.cli", "chat", "--model", str(gemma_path), "--json",
         "--max-tokens", "4000", "--seed", "7", "Write a very long story about a lighthouse keeper."],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    streamed = ""
    flushed = ""
    deadline = time.monotonic() + 240
    try:
        assert proc.stdout is not None
        # Read the streamed answer; after each piece, look (read-only) for a flushed partial row.
        while not flushed and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            assert event["type"] != "done", "the reply ended before it could be interrupted"
            streamed += event.get("text", "")
            if streamed.strip() and _db(fireside_home).exists():
                reader = sqlite3.connect(f"file:{_db(fireside_home)}?mode=ro", uri=True)
                try:
                    row = reader.execute("SELECT text FROM messages WHERE role = 'assistant'").fetchone()
                finally:
                    reader.close()
                flushed = row[0] if row else ""
        assert flushed, "no partial reply was flushed while the answer streamed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    shown = fireside("conversations", "show", "1", "--json", home=fireside_home)
    assert shown.returncode == 0, shown.stderr
    messages = json.loads(shown.stdout)["messages"]
    assert messages[0]["role"] == "user" and messages[0]["text"].startswith("Write a very long story")
    assert messages[1]["status"] == "partial"
    assert messages[1]["text"].strip() and streamed.startswith(messages[1]["text"])
    db = sqlite3.connect(_db(fireside_home))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
