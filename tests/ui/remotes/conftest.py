"""Remote-engine GUI fixtures: a file-backed test keyring in place of the OS one, and a scripted
OpenAI-compatible server on 127.0.0.1 that wants a key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from fireside.core.config.paths import Paths
from fireside.core.config.secrets import TokenStore, remote_key_user
from fireside.core.engine.remotes import Connection, Remotes
from tests.helpers.file_keyring import FileKeyring
from tests.helpers.openai_peer import OpenAIPeer, responses_events

KEY = "sk-test-4d1f9b"
REASONING = ["The user asks", " about tides;", " the moon pulls."]
ANSWER = ["Tides come", " from the moon's", " pull."]


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every keyring call of the app goes to a JSON file for this test (the OS keyring is absent
    on a headless machine, and must never be touched by tests anyway)."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("FIRESIDE_TEST_KEYRING", str(path))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield path
    keyring.set_keyring(previous)


@pytest.fixture
def peer() -> Iterator[OpenAIPeer]:
    with OpenAIPeer(models=("gpt-oss-120b", "gpt-oss-20b"), responses_api=True, api_key=KEY) as p:
        p.default.events = responses_events(REASONING, ANSWER)
        yield p


def save_connection(paths: Paths, name: str, url: str, model: str = "gpt-oss-120b",
                    key: str = KEY) -> None:
    Remotes(paths.config).put(Connection(name, url, model))
    if key:
        TokenStore(keyring.get_keyring(), keyring_allowed=True, user=remote_key_user(name)).set(key)


def keyring_contents(path: Path) -> dict[str, str]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}
