"""Named connections and open_remote: name or URL, the key from the keyring or OPENAI_API_KEY,
offline mode and the policy checked before any connection is made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import ChatRequest, Message
from fireside.core.chat.events import AnswerDelta
from fireside.core.config.paths import app_paths
from fireside.core.config.secrets import SERVICE, remote_key_user
from fireside.core.config.settings import Settings, save_settings
from fireside.core.engine.protocol import ModelLoadError
from fireside.core.engine.remotes import (
    Connection,
    RemoteInputError,
    RemoteRefused,
    Remotes,
    key_store,
    normalise_url,
    open_remote,
)
from tests.core.config.test_secrets import MemoryKeyring
from tests.helpers.openai_peer import OpenAIPeer


@pytest.fixture
def peer() -> Iterator[OpenAIPeer]:
    with OpenAIPeer(models=("big", "small")) as p:
        yield p


def test_connections_file_round_trip_without_keys(fireside_home: Path) -> None:
    paths = app_paths()
    remotes = Remotes(paths.config)
    assert remotes.all() == []
    remotes.put(Connection("a", "https://a.example.org/v1", "m1"))
    remotes.put(Connection("b", "http://127.0.0.1:8000/v1"))
    remotes.put(Connection("a", "https://a2.example.org/v1"))  # replaces by name
    assert [(c.name, c.base_url) for c in remotes.all()] == [("b", "http://127.0.0.1:8000/v1"),
                                                              ("a", "https://a2.example.org/v1")]
    assert remotes.remove("b") and not remotes.remove("b")
    assert json.loads(remotes.path.read_text())["remotes"] == [
        {"name": "a", "base_url": "https://a2.example.org/v1", "model": "", "ca_bundle": ""}]
    assert normalise_url(" https://h.example.org/ ") == "https://h.example.org/v1"
    assert normalise_url("https://h.example.org/openai/v1/") == "https://h.example.org/openai/v1"


def test_open_by_name_uses_the_keyring_key_and_default_model(peer: OpenAIPeer,
                                                             fireside_home: Path) -> None:
    policy = load_policy()
    paths = app_paths(policy=policy)
    Remotes(paths.config).put(Connection("lab", peer.url, "small"))
    backend = MemoryKeyring()
    key_store("lab", policy, backend).set("sk-lab")
    assert backend.store == {(SERVICE, remote_key_user("lab")): "sk-lab"}
    engine = open_remote("lab", "", paths, policy, env={"OPENAI_API_KEY": "sk-env"},
                         keyring_backend=backend)
    try:
        assert engine.info is not None and engine.info.name == "small"
        events = list(engine.stream(ChatRequest(messages=(Message("user", "hi"),))))
        assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == "Hello there"
        assert peer.requests[-1][1]["authorization"] == "Bearer sk-lab"
    finally:
        engine.close()
    # A URL: OPENAI_API_KEY, the ecosystem's convention, and the model named explicitly.
    engine = open_remote(peer.url, "big", paths, policy, env={"OPENAI_API_KEY": "sk-env"},
                         keyring_backend=MemoryKeyring())
    assert engine.info is not None and engine.info.name == "big"
    assert peer.gets[-1][1]["authorization"] == "Bearer sk-env"
    engine.close()


def test_open_refuses_clearly(peer: OpenAIPeer, fireside_home: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    paths = app_paths()
    with pytest.raises(RemoteInputError, match="no remote connection named “lab”"):
        open_remote("lab", "", paths, load_policy(), env={})
    with pytest.raises(ModelLoadError, match="offers several models"):
        open_remote(peer.url, "", paths, load_policy(), env={})
    asked = len(peer.gets)
    policy_file = tmp_path / "none.json"
    policy_file.write_text(json.dumps({"allowed_remote_endpoints": "none"}))
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(policy_file))
    with pytest.raises(RemoteRefused, match="turned off by your organisation"):
        open_remote(peer.url, "big", paths, load_policy(), env={})
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(tmp_path / "absent.json"))
    save_settings(Settings(offline=True), paths.settings_file)
    with pytest.raises(RemoteRefused, match="Offline mode is on"):
        open_remote(peer.url, "big", paths, load_policy(), env={})
    assert len(peer.gets) == asked  # refused before any connection
