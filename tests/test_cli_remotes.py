"""`fireside remotes` as a user runs it: real processes, a real server on 127.0.0.1, the key
kept in a keyring (never in the connections file), policy and offline mode refusing clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.openai_peer import OpenAIPeer

ROOT = Path(__file__).resolve().parents[1]
MAIN = "import sys; from fireside.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def peer() -> Iterator[OpenAIPeer]:
    with OpenAIPeer(models=("gpt-oss-120b", "gpt-oss-20b")) as p:
        yield p


def fireside(*args: str, home: Path, tmp_path: Path, stdin: str | None = None,
             **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PYTHON_KEYRING_BACKEND": "tests.helpers.file_keyring.FileKeyring",
           "FIRESIDE_TEST_KEYRING": str(tmp_path / "keyring.json"), **env_extra}
    if "OPENAI_API_KEY" not in env_extra:
        env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True, text=True,
                          timeout=120, env=env, input=stdin)


def _one_line(r: subprocess.CompletedProcess[str], code: int) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1 and lines[0].startswith("fireside: "), r.stderr
    return lines[0]


def test_add_list_test_remove_with_the_key_only_in_the_keyring(
        peer: OpenAIPeer, fireside_home: Path, tmp_path: Path) -> None:
    base = peer.url.removesuffix("/v1")  # a bare host gets /v1
    r = fireside("remotes", "add", "lab", base, "--model", "gpt-oss-120b", "--key-stdin",
                 home=fireside_home, tmp_path=tmp_path, stdin="sk-secret-123\n")
    assert r.returncode == 0, r.stderr
    assert "keyring" in r.stdout and "sk-secret" not in r.stdout + r.stderr
    saved = (fireside_home / "config" / "remotes.json").read_text()
    assert "sk-secret" not in saved and json.loads(saved)["remotes"][0]["base_url"] == peer.url
    keyring = json.loads((tmp_path / "keyring.json").read_text())
    assert keyring == {"Fireside/remote-api-key:lab": "sk-secret-123"}

    r = fireside("remotes", "list", "--json", home=fireside_home, tmp_path=tmp_path)
    assert json.loads(r.stdout)["remotes"] == [{"name": "lab", "url": peer.url,
                                                "model": "gpt-oss-120b", "ca_bundle": "",
                                                "key": "keyring", "allowed": True}]
    r = fireside("remotes", "test", "lab", home=fireside_home, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "gpt-oss-120b" in r.stdout and "gpt-oss-20b" in r.stdout
    assert peer.gets[-1] == ("/v1/models", peer.gets[-1][1])
    assert peer.gets[-1][1]["authorization"] == "Bearer sk-secret-123"
    r = fireside("remotes", "test", "lab", "--json", home=fireside_home, tmp_path=tmp_path)
    assert json.loads(r.stdout) == {"url": peer.url, "models": ["gpt-oss-120b", "gpt-oss-20b"]}

    r = fireside("remotes", "remove", "lab", home=fireside_home, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "keyring.json").read_text()) == {}
    r = fireside("remotes", "list", home=fireside_home, tmp_path=tmp_path)
    assert "No remote connections yet" in r.stdout


def test_bad_input_is_one_line_and_exit_2(fireside_home: Path, tmp_path: Path) -> None:
    for args, words in ((("remotes", "add", "lab", "ftp://x"), "not an http"),
                        (("remotes", "add", "bad name", "http://127.0.0.1:9"), "cannot name"),
                        (("remotes", "test", "nowhere"), "no remote connection named"),
                        (("remotes", "remove", "nowhere"), "no remote connection named")):
        r = fireside(*args, home=fireside_home, tmp_path=tmp_path)
        assert words in _one_line(r, 2)


def test_an_unreachable_endpoint_is_a_runtime_failure(fireside_home: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = fireside("remotes", "test", f"http://127.0.0.1:{port}", home=fireside_home,
                 tmp_path=tmp_path)
    assert "Could not reach" in _one_line(r, 1)


def test_policy_and_offline_mode_refuse(peer: OpenAIPeer, fireside_home: Path,
                                        tmp_path: Path) -> None:
    policy = tmp_path / "admin.json"
    policy.write_text(json.dumps({"allowed_remote_endpoints": ["https://ai.example.org"]}))
    r = fireside("remotes", "add", "lab", peer.url, home=fireside_home, tmp_path=tmp_path,
                 FIRESIDE_POLICY_FILE=str(policy))
    line = _one_line(r, 2)
    assert "allowed_remote_endpoints" in line and str(policy) in line
    (fireside_home / "config").mkdir(parents=True)
    (fireside_home / "config" / "settings.toml").write_text("offline = true\n")
    r = fireside("remotes", "test", peer.url, home=fireside_home, tmp_path=tmp_path)
    assert "Offline mode is on" in _one_line(r, 2)


def test_openai_api_key_is_the_fallback_for_a_bare_url(peer: OpenAIPeer, fireside_home: Path,
                                                       tmp_path: Path) -> None:
    r = fireside("remotes", "test", peer.url, home=fireside_home, tmp_path=tmp_path,
                 OPENAI_API_KEY="sk-from-env")
    assert r.returncode == 0, r.stderr
    assert "gpt-oss-20b" in r.stdout
    assert peer.gets[-1][1]["authorization"] == "Bearer sk-from-env"
