"""Gemma through the API (loaded on demand next to the tiny gpt-oss), `fireside serve` as a user
runs it, the key's keeping, and the stored-responses table's migration."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from fireside.core.config.secrets import TokenStore
from fireside.core.history.schema import SCHEMA_V1, SCHEMA_VERSION, _v1_to_v2, migrate
from fireside.server.keys import ENV, KEYRING_USER, api_key
from tests.core.config.test_secrets import MemoryKeyring
from tests.server.conftest import Served, serve
from tests.server.test_chat_completions import ASK

ROOT = Path(__file__).resolve().parents[2]


def test_gemma_loads_on_request_and_answers_both_apis(tiny_gptoss_path: Path, gemma_path: Path,
                                                      tmp_path: Path):
    s: Served = serve(tiny_gptoss_path, gemma_path, tmp_path / "h.sqlite3")
    try:
        c = s.client()
        ids = [m.id for m in c.models.list().data]
        gemma = gemma_path.name.removesuffix(".gguf")
        assert gemma in ids and ids[0].startswith("tiny-gpt-oss")  # the loaded model first
        r = c.chat.completions.create(model=gemma, messages=ASK, max_tokens=8, temperature=0)
        assert r.model == gemma and r.choices[0].message.content
        assert s.engine.info is not None and s.engine.info.architecture == "gemma3"
        assert "What is the weather in Paris?" in s.engine.prompts[-1]
        assert "<|start|>" not in s.engine.prompts[-1]  # Gemma's own format, not harmony
        assert c.models.list().data[0].id == gemma
        chunks = list(c.chat.completions.create(model=gemma, messages=ASK, max_tokens=8, stream=True))
        assert "".join(x.choices[0].delta.content or "" for x in chunks if x.choices)
        events = list(c.responses.create(model=gemma, input="Hello", max_output_tokens=8, stream=True))
        assert events[-1].type == "response.completed"
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta")
        whole = c.responses.create(model=gemma, input="Hello", max_output_tokens=8)
        assert whole.output_text and whole.status in ("completed", "incomplete")
    finally:
        s.stop()


def _serve(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "FIRESIDE_HOME": str(home), ENV: "fs-cli-key", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "fireside.cli", "serve", *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_fireside_serve_prints_one_line_serves_and_stops_on_sigterm(tiny_gptoss_path: Path,
                                                                   fireside_home: Path):
    proc = _serve(fireside_home, "--model", str(tiny_gptoss_path), "--port", "0", "--ctx", "512",
                  "--threads", "1")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.fullmatch(r"Serving http://127\.0\.0\.1:(\d+)/v1\n", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        with openai.OpenAI(base_url=line.split()[1], api_key="fs-cli-key", max_retries=0,
                           timeout=60) as c:
            r = c.chat.completions.create(model="", messages=ASK, max_tokens=4, temperature=0)
            assert r.choices[0].finish_reason == "length"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line on stdout
    assert "fs-cli-key" not in err and "Traceback" not in err


def test_fireside_serve_beyond_loopback_warns_and_still_wants_the_key(fireside_home: Path):
    proc = _serve(fireside_home, "--host", "0.0.0.0", "--port", "0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.fullmatch(r"Serving http://0\.0\.0\.0:\d+/v1\n", line), line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0,
                           timeout=30) as c, pytest.raises(openai.AuthenticationError):
            c.models.list()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and out == ""
    assert "Warning: the API server listens on 0.0.0.0" in err


@pytest.mark.parametrize("policy,args,says", [
    ({"local_api_server_allowed": False}, (), "turned off by your organisation"),
    ({"local_api_server_remote_allowed": False}, ("--host", "0.0.0.0"), "allows this computer only"),
    ({}, ("--port", "70000"), "--port"),
])
def test_fireside_serve_refuses_in_one_line(fireside_home: Path, tmp_path: Path, policy: dict[str, object],
                                            args: tuple[str, ...], says: str):
    import json

    (tmp_path / "policy.json").write_text(json.dumps(policy))
    proc = _serve(fireside_home, *args, env={"FIRESIDE_POLICY_FILE": str(tmp_path / "policy.json")})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err


def test_the_key_comes_from_the_environment_or_is_made_once_and_kept():
    backend = MemoryKeyring()
    store = TokenStore(backend, keyring_allowed=True, user=KEYRING_USER)
    assert api_key(store, env={ENV: "  mine "}).value == "mine"
    made = api_key(store, env={})
    assert made.value.startswith("fs-") and len(made.value) > 30 and "keyring" in made.source
    assert api_key(store, env={}).value == made.value  # the same key at the next start
    assert made.value not in repr(made)
    unusable = TokenStore(backend, keyring_allowed=False, user=KEYRING_USER)
    assert "this run only" in api_key(unusable, env={}).source


def test_the_stored_responses_table_comes_with_a_migration(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    for statement in SCHEMA_V1.strip().split(";"):
        if statement.strip():
            db.execute(statement)
    _v1_to_v2(db)
    db.execute("PRAGMA user_version = 2")
    assert migrate(db) == 2 and SCHEMA_VERSION == 6  # v3 tool calls, v4 this table, v5 outcomes, v6 links
    columns = [r[1] for r in db.execute("PRAGMA table_info(api_responses)")]
    assert columns == ["id", "created", "model", "instructions", "input", "response",
                       "conversation_id", "message_id"]
    assert "source" in [r[1] for r in db.execute("PRAGMA table_info(conversations)")]
    db.close()


def test_doctor_reports_the_api_server_as_policy_leaves_it(fireside_home: Path, tmp_path: Path):
    import json

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"local_api_server_allowed": False}))
    env = {**os.environ, "FIRESIDE_HOME": str(fireside_home), "FIRESIDE_POLICY_FILE": str(policy)}
    out = subprocess.run([sys.executable, "-m", "fireside.cli", "doctor", "--json"], env=env,
                         capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    api = json.loads(out)["api_server"]
    assert api["allowed"] is False and "local_api_server_allowed" in api["refusal"]
    assert api["host"] == "127.0.0.1" and api["loopback_only"] is True and api["cors_origins"] == []
