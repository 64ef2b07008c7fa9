"""`fireside models …` as a user runs it: subprocesses against the local Hub look-alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.hf_server import HubServer

REPO, FILE = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"


def models(*args: str, home: Path, endpoint: str = "http://127.0.0.1:9",
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home), "HF_ENDPOINT": endpoint,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    return subprocess.run([sys.executable, "-m", "fireside.cli", "models", *args],
                          capture_output=True, text=True, timeout=120, env=env, input=stdin)


@pytest.fixture
def hub(tiny_gptoss_path: Path):
    with HubServer({REPO: {FILE: tiny_gptoss_path.read_bytes(), "README.md": b"# hi"}}) as state:
        yield state


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fireside: "), r.stderr
    return lines[0]


def test_pull_catalog_id_then_list_verify_info_remove(hub, fireside_home: Path):
    r = models("pull", "gpt-oss-20b", home=fireside_home, endpoint=hub.hub_url)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.is_file() and path.parent.name == "gpt-oss-20b-GGUF"
    assert "Downloaded and verified" in r.stderr

    listed = json.loads(models("list", "--json", home=fireside_home).stdout)
    assert [m["name"] for m in listed["installed"]] == [FILE]
    assert listed["installed"][0]["source"]["repo_id"] == REPO

    v = models("verify", FILE, home=fireside_home)
    assert v.returncode == 0 and "SHA-256 matches" in v.stdout

    again = models("pull", REPO, FILE, home=fireside_home, endpoint=hub.hub_url)
    assert again.returncode == 0 and "Already downloaded" in again.stderr
    assert len(hub.byte_requests()) == 1  # nothing fetched twice

    info = json.loads(models("info", FILE, "--json", home=fireside_home).stdout)
    assert info["architecture"] == "gpt-oss" and info["fit"]["badge"]

    rm = models("remove", FILE, home=fireside_home)
    assert rm.returncode == 0 and not path.exists()
    assert json.loads(models("list", "--json", home=fireside_home).stdout)["installed"] == []


def test_pull_repo_and_file_and_tampering_is_caught(hub, fireside_home: Path):
    r = models("pull", REPO, FILE, home=fireside_home, endpoint=hub.hub_url)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    v = models("verify", FILE, home=fireside_home)
    assert v.returncode == 1 and "damaged" in _one_line(v)


@pytest.mark.parametrize("args", [
    ("pull", "no-such-model"),
    ("pull", "a", "b", "c"),
    ("pull", REPO, "missing.gguf"),
    ("pull", "not a repo", "x.gguf"),
    ("verify", "nothing.gguf"),
    ("frobnicate",),
    (),
])
def test_bad_input_exits_2_with_one_line(hub, fireside_home: Path, args: tuple[str, ...]):
    r = models(*args, home=fireside_home, endpoint=hub.hub_url)
    assert r.returncode == 2
    _one_line(r)


def test_unreachable_hub_is_a_runtime_failure(fireside_home: Path):
    r = models("pull", REPO, FILE, home=fireside_home, endpoint="http://127.0.0.1:9")
    assert r.returncode == 1 and "Could not reach" in _one_line(r)


def test_offline_mode_refuses_to_download(hub, fireside_home: Path):
    cfg = fireside_home / "config"
    cfg.mkdir(parents=True)
    (cfg / "settings.toml").write_text("offline = true\n")
    r = models("pull", "gpt-oss-20b", home=fireside_home, endpoint=hub.hub_url)
    assert r.returncode == 2 and "Offline mode" in _one_line(r)
    assert hub.log == []


def test_import_validates_links_and_remove_keeps_the_original(tiny_gptoss_path: Path,
                                                             fireside_home: Path, tmp_path: Path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gptoss_path.read_bytes()[:5000])
    r = models("import", str(broken), home=fireside_home)
    assert r.returncode == 2 and "Not imported" in _one_line(r)
    assert json.loads(models("list", "--json", home=fireside_home).stdout)["installed"] == []

    original = tmp_path / "tiny.gguf"
    original.write_bytes(tiny_gptoss_path.read_bytes())
    r = models("import", str(original), home=fireside_home)
    assert r.returncode == 0, r.stderr
    listed = json.loads(models("list", "--json", home=fireside_home).stdout)["installed"]
    assert listed[0]["name"] == "tiny.gguf" and listed[0]["linked"]
    assert models("verify", "tiny.gguf", home=fireside_home).returncode == 0
    rm = models("remove", "tiny.gguf", home=fireside_home)
    assert rm.returncode == 0 and "untouched" in rm.stdout
    assert original.read_bytes() == tiny_gptoss_path.read_bytes()


def test_import_copy(tiny_gptoss_path: Path, fireside_home: Path):
    r = models("import", "--copy", str(tiny_gptoss_path), home=fireside_home)
    assert r.returncode == 0, r.stderr
    listed = json.loads(models("list", "--json", home=fireside_home).stdout)["installed"]
    assert not listed[0]["linked"] and listed[0]["size"] == tiny_gptoss_path.stat().st_size


def test_doctor_reports_keyring_and_fit_for_installed_models(tiny_gptoss_path: Path,
                                                            fireside_home: Path):
    assert models("import", str(tiny_gptoss_path), home=fireside_home).returncode == 0
    env = {**os.environ, "FIRESIDE_HOME": str(fireside_home),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    r = subprocess.run([sys.executable, "-m", "fireside.cli", "doctor", "--json"],
                       capture_output=True, text=True, timeout=120, env=env)
    report = json.loads(r.stdout)
    assert report["keyring"]["usable"] is False and "memory only" in report["keyring"]["status"]
    assert [f["model"] for f in report["fit"]] == [tiny_gptoss_path.name]
    assert report["fit"][0]["badge"]
