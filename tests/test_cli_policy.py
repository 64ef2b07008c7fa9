"""Admin policy from the terminal: doctor shows it with sources; locked values exit 2 with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hf_server import HubServer

REPO, FILE = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"


def fireside(*args: str, home: Path, policy: Path,
             endpoint: str = "http://127.0.0.1:9") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home), "FIRESIDE_POLICY_FILE": str(policy),
           "HF_ENDPOINT": endpoint, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    return subprocess.run([sys.executable, "-m", "fireside.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _policy(tmp_path: Path, data: Any) -> Path:
    p = tmp_path / "policy.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("fireside: "), r.stderr
    return lines[0]


def test_doctor_json_reports_policy_values_sources_and_problems(tmp_path: Path,
                                                                 fireside_home: Path):
    p = _policy(tmp_path, {"allowed_efforts": ["low"], "max_context": "huge",
                           "hf_endpoint": "https://mirror.example.org"})
    r = fireside("doctor", "--json", home=fireside_home, policy=p)
    report = json.loads(r.stdout)["policy"]
    assert report["sources_checked"][-1] == str(p)  # after the machine's own places
    assert report["values"]["allowed_efforts"] == {"value": ["low"], "source": str(p),
                                                   "valid": True}
    assert report["values"]["max_context"]["value"] == 2048
    assert report["values"]["max_context"]["valid"] is False
    assert "allow_model_downloads" not in report["values"]  # absent: not locked
    assert [(x["source"], x["key"]) for x in report["problems"]] == [(str(p), "max_context")]
    text = fireside("doctor", home=fireside_home, policy=p).stdout
    assert "Policy in effect:" in text and f"PROBLEM: {p}, key max_context" in text


def test_doctor_json_reports_an_unreadable_policy(tmp_path: Path, fireside_home: Path):
    p = _policy(tmp_path, "{oops")
    report = json.loads(fireside("doctor", "--json", home=fireside_home, policy=p).stdout)
    assert report["policy"]["problems"][0]["source"] == str(p)
    assert "not valid JSON" in report["policy"]["problems"][0]["message"]
    assert report["policy"]["values"]["offline_only"]["value"] is True
    assert report["keyring"]["usable"] is False


def test_chat_refuses_an_effort_the_policy_does_not_allow(tmp_path: Path, fireside_home: Path,
                                                          tiny_gptoss_path: Path):
    p = _policy(tmp_path, {"allowed_efforts": ["low"]})
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--effort", "high", "--print-prompt",
                 "hi", home=fireside_home, policy=p)
    line = _one_line(r)
    assert "allowed_efforts" in line and "'high'" in line and r.stdout == ""


def test_chat_uses_the_policy_effort_by_default(tmp_path: Path, fireside_home: Path,
                                                tiny_gptoss_path: Path):
    p = _policy(tmp_path, {"allowed_efforts": ["low", "high"], "default_effort": "high"})
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--print-prompt", "hi",
                 home=fireside_home, policy=p)
    assert r.returncode == 0, r.stderr
    assert "Reasoning: high" in r.stdout  # the user's default (medium) is not allowed


def test_chat_refuses_a_context_above_the_policy_maximum(tmp_path: Path, fireside_home: Path,
                                                         tiny_gptoss_path: Path):
    p = _policy(tmp_path, {"max_context": 4096})
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--ctx", "8192", "hi",
                 home=fireside_home, policy=p)
    assert "max_context" in _one_line(r)


@pytest.fixture
def hub(tiny_gptoss_path: Path):
    with HubServer({REPO: {FILE: tiny_gptoss_path.read_bytes()}}) as state:
        yield state


@pytest.mark.parametrize("data", [{"allow_model_downloads": False}, {"offline_only": True},
                                  "not json at all"])
def test_pull_refuses_when_downloads_are_not_allowed(tmp_path: Path, fireside_home: Path,
                                                     hub, data: Any):
    p = _policy(tmp_path, data)
    r = fireside("models", "pull", "gpt-oss-20b", home=fireside_home, policy=p,
                 endpoint=hub.hub_url)
    line = _one_line(r)
    assert "policy" in line and str(p) in line
    assert not list((fireside_home).rglob("*.gguf"))


def test_pull_refuses_a_model_not_on_the_allowed_list(tmp_path: Path, fireside_home: Path, hub):
    p = _policy(tmp_path, {"allowed_models": [{"repo": "other/repo", "file": "x.gguf"}]})
    r = fireside("models", "pull", REPO, FILE, home=fireside_home, policy=p,
                 endpoint=hub.hub_url)
    assert "allowed_models" in _one_line(r)


def test_pull_uses_the_policy_endpoint_and_pinned_model(tmp_path: Path, fireside_home: Path,
                                                        hub, tiny_gptoss_path: Path):
    import hashlib

    sha = hashlib.sha256(tiny_gptoss_path.read_bytes()).hexdigest()
    p = _policy(tmp_path, {"hf_endpoint": hub.hub_url,
                           "allowed_models": [{"repo": REPO, "file": FILE, "sha256": sha}]})
    # HF_ENDPOINT points nowhere: only the policy's mirror can serve this
    r = fireside("models", "pull", REPO, FILE, home=fireside_home, policy=p)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).read_bytes() == tiny_gptoss_path.read_bytes()


def test_pull_refuses_when_the_hub_hash_differs_from_the_pinned_one(tmp_path: Path,
                                                                    fireside_home: Path, hub):
    p = _policy(tmp_path, {"allowed_models": [{"repo": REPO, "file": FILE, "sha256": "0" * 64}]})
    r = fireside("models", "pull", REPO, FILE, home=fireside_home, policy=p,
                 endpoint=hub.hub_url)
    assert r.returncode == 1 and "allowed_models" in r.stderr
    assert not list((fireside_home).rglob("*.gguf"))
