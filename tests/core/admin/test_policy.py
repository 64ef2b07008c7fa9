"""Admin policy: every key parsed, precedence per key, and broken input read restrictively."""

from __future__ import annotations

import hashlib
import json
import plistlib
from pathlib import Path
from typing import Any

import pytest

from fireside.core.admin.policy import MANAGED, RESTRICTIVE_MAX_CONTEXT, SCHEMA, load_policy
from fireside.core.config.secrets import TokenStore
from fireside.core.config.settings import Settings, effective_settings, lock_reason

SHA = "ab" * 32
FULL: dict[str, Any] = {
    "allow_model_downloads": True,
    "allowed_models": [{"repo": "openai/gpt-oss-20b", "file": "m.gguf", "sha256": SHA.upper()}],
    "allowed_adapters": ["legal.gguf", {"file": "support.gguf", "sha256": SHA.upper()}],
    "hf_endpoint": "https://mirror.example.org/",
    "offline_only": False,
    "shared_model_dirs": ["/srv/models", "/opt/models"],
    "user_model_dir": "/home/models",
    "default_model": "gpt-oss-20b",
    "default_effort": "Medium",
    "allowed_efforts": ["high", "medium"],
    "max_context": 16384,
    "allow_keyring_tokens": True,
    "update_checks": False,
    "local_api_server_allowed": True,
    "local_api_server_remote_allowed": False,
    "tools_allowed": True,
    "python_tool_allowed": False,
    "mcp_servers": " Listed ",
    "allowed_mcp_servers": ["github", "https://mcp.example.org/mcp"],
    "tool_auto_approval_allowed": False,
    "allowed_remote_endpoints": ["https://Foundry.example.org/openai/v1/", "http://127.0.0.1:8000"],
}
EXPECTED: dict[str, Any] = {
    "allow_model_downloads": True,
    "allowed_models": ({"repo": "openai/gpt-oss-20b", "file": "m.gguf", "sha256": SHA},),
    "allowed_adapters": ({"file": "legal.gguf", "sha256": ""}, {"file": "support.gguf", "sha256": SHA}),
    "hf_endpoint": "https://mirror.example.org",
    "offline_only": False,
    "shared_model_dirs": ("/srv/models", "/opt/models"),
    "user_model_dir": "/home/models",
    "default_model": "gpt-oss-20b",
    "default_effort": "medium",
    "allowed_efforts": ("medium", "high"),
    "max_context": 16384,
    "allow_keyring_tokens": True,
    "update_checks": False,
    "local_api_server_allowed": True,
    "local_api_server_remote_allowed": False,
    "tools_allowed": True,
    "python_tool_allowed": False,
    "mcp_servers": "listed",
    "allowed_mcp_servers": ("github", "https://mcp.example.org/mcp"),
    "tool_auto_approval_allowed": False,
    "allowed_remote_endpoints": ("https://foundry.example.org/openai/v1", "http://127.0.0.1:8000"),
}
RESTRICTIVE: dict[str, Any] = {
    "allow_model_downloads": False, "allowed_models": (), "allowed_adapters": (), "hf_endpoint": "",
    "offline_only": True, "shared_model_dirs": (), "user_model_dir": "", "default_model": "",
    "default_effort": "low", "allowed_efforts": ("low",), "max_context": RESTRICTIVE_MAX_CONTEXT,
    "allow_keyring_tokens": False, "update_checks": False, "local_api_server_allowed": False,
    "local_api_server_remote_allowed": False, "tools_allowed": False, "python_tool_allowed": False,
    "mcp_servers": "off",
    "allowed_mcp_servers": (), "tool_auto_approval_allowed": False,
    "allowed_remote_endpoints": (),
}


def _write(tmp_path: Path, data: Any, name: str = "policy.json") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def _source(path: Path) -> tuple[str, Any]:
    from fireside.core.admin.policy import _read_json

    return str(path), lambda: _read_json(path)


def test_schema_covers_every_key_the_issue_asks_for():
    assert set(SCHEMA) == set(FULL) == set(RESTRICTIVE)


def test_every_key_is_parsed_from_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    p = _write(tmp_path, FULL, "admin.json")
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(p))
    policy = load_policy()
    assert policy.problems == ()
    assert policy.sources[-1] == str(p)
    assert {k: policy.get(k) for k in SCHEMA} == EXPECTED
    assert all(v.source == str(p) and v.valid for v in policy.values.values())


def test_the_environment_file_cannot_override_the_machine_policy(tmp_path: Path):
    """FIRESIDE_POLICY_FILE is read after the machine's places: a user who sets it may add
    keys, never loosen one the organisation set."""
    machine = _write(tmp_path, {"allow_model_downloads": False}, "machine.json")
    user = _write(tmp_path, {"allow_model_downloads": True, "offline_only": True}, "user.json")
    policy = load_policy([_source(machine), _source(user)])
    assert policy.get("allow_model_downloads") is False
    assert policy.values["allow_model_downloads"].source == str(machine)
    assert policy.get("offline_only") is True


def test_default_sources_put_the_environment_file_last(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    from fireside.core.admin.policy import default_sources

    p = _write(tmp_path, {}, "mine.json")
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(p))
    names = [name for name, _ in default_sources()]
    assert names[-1] == str(p) and len(names) >= 2


def test_no_policy_file_locks_nothing(tmp_path: Path):
    policy = load_policy([_source(tmp_path / "missing.json")])
    assert policy.values == {} and policy.problems == ()
    assert policy.download_refusal() == "" and policy.effort_refusal("high") == ""
    assert effective_settings(Settings(), policy) == Settings()


def test_keys_absent_from_a_valid_policy_stay_unlocked(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, {"max_context": 8192}))])
    assert policy.locked("max_context") and not policy.locked("allowed_efforts")
    assert policy.effort_refusal("high") == "" and policy.download_refusal() == ""


def test_first_source_wins_per_key_and_later_sources_fill_the_rest(tmp_path: Path):
    first = _write(tmp_path, {"max_context": 4096}, "registry.json")
    second = _write(tmp_path, {"max_context": 65536, "allowed_efforts": ["low", "medium"]},
                    "programdata.json")
    policy = load_policy([_source(first), _source(second)])
    assert policy.get("max_context") == 4096
    assert policy.values["max_context"].source == str(first)
    assert policy.get("allowed_efforts") == ("low", "medium")
    assert policy.values["allowed_efforts"].source == str(second)


def test_invalid_json_is_reported_and_every_key_is_restrictive(tmp_path: Path):
    p = _write(tmp_path, '{"allow_model_downloads": true,')
    policy = load_policy([_source(p)])
    assert len(policy.problems) == 1
    problem = policy.problems[0]
    assert problem.source == str(p) and "not valid JSON" in problem.message
    assert str(p) in str(problem)
    assert {k: policy.get(k) for k in SCHEMA} == RESTRICTIVE
    assert not any(v.valid for v in policy.values.values())
    assert "allow_model_downloads" not in policy.download_refusal()  # offline_only comes first
    assert "policy" in policy.download_refusal()
    assert policy.effort_refusal("medium") and not policy.effort_refusal("low")


def test_a_file_that_is_not_an_object_is_restrictive(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, [1, 2]))])
    assert "JSON object" in policy.problems[0].message
    assert policy.get("offline_only") is True


def test_a_broken_file_does_not_override_a_valid_earlier_source(tmp_path: Path):
    good = _write(tmp_path, {"max_context": 32768}, "good.json")
    bad = _write(tmp_path, "not json", "bad.json")
    policy = load_policy([_source(good), _source(bad)])
    assert policy.get("max_context") == 32768
    assert policy.get("allow_model_downloads") is False  # the broken source still restricts


@pytest.mark.parametrize(("key", "bad"), [
    ("allow_model_downloads", "yes"),
    ("allowed_models", [{"repo": "a/b"}]),
    ("allowed_models", [{"repo": "a/b", "file": "x.gguf", "sha256": "short"}]),
    ("allowed_adapters", [{"sha256": SHA}]),
    ("allowed_adapters", [{"file": "x.gguf", "sha256": "short"}]),
    ("allowed_adapters", "[not json"),
    ("hf_endpoint", "ftp://mirror"),
    ("offline_only", "no"),
    ("shared_model_dirs", "",),
    ("user_model_dir", 3),
    ("default_model", ""),
    ("default_effort", "extreme"),
    ("allowed_efforts", []),
    ("allowed_efforts", ["low", "turbo"]),
    ("max_context", 10),
    ("max_context", "big"),
    ("allow_keyring_tokens", 2),
    ("update_checks", True),
    ("local_api_server_allowed", None),
    ("local_api_server_remote_allowed", "yes"),
    ("tools_allowed", "yes"),
    ("python_tool_allowed", 5),
    ("mcp_servers", "some"),
    ("allowed_mcp_servers", [3]),
    ("tool_auto_approval_allowed", []),
    ("allowed_remote_endpoints", ["ftp://models.example.org"]),
    ("allowed_remote_endpoints", 5),
])
def test_one_invalid_value_is_restrictive_for_that_key_only(tmp_path: Path, key: str, bad: Any):
    data = {**FULL, key: bad}
    p = _write(tmp_path, data)
    policy = load_policy([_source(p)])
    assert [(pr.source, pr.key) for pr in policy.problems] == [(str(p), key)]
    # an invalid default_effort falls to the lowest effort the (valid) allowed_efforts permits
    restrictive = "medium" if key == "default_effort" else RESTRICTIVE[key]
    assert policy.get(key) == restrictive
    assert not policy.values[key].valid and "fallback" in policy.values[key].source
    others = {k: policy.get(k) for k in SCHEMA if k != key}
    expected = {k: v for k, v in EXPECTED.items() if k != key}
    if key == "allowed_efforts":  # medium is no longer allowed, so the default follows the list
        expected["default_effort"] = "low"
        assert others.pop("default_effort") == "low"
        expected.pop("default_effort")
    assert others == expected
    assert "could not be read" in policy.why(key)


def test_unknown_key_is_reported_but_has_no_effect(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, {"alow_model_downloads": False}))])
    assert [p.key for p in policy.problems] == ["alow_model_downloads"]
    assert policy.values == {}


def test_default_effort_outside_allowed_efforts_is_reported(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, {"allowed_efforts": ["low"],
                                                    "default_effort": "high"}))])
    assert policy.get("default_effort") == "low"
    assert [p.key for p in policy.problems] == ["default_effort"]


def test_registry_style_values_are_accepted(tmp_path: Path):
    data = {"allow_model_downloads": 0, "allowed_efforts": "low",
            "allowed_models": json.dumps([{"repo": "a/b", "file": "c.gguf"}]),
            "allowed_adapters": json.dumps(["legal.gguf"])}
    policy = load_policy([("HKLM\\Software\\Policies\\Fireside", lambda: data)])
    assert policy.problems == ()
    assert policy.get("allow_model_downloads") is False
    assert policy.get("allowed_efforts") == ("low",)
    assert policy.get("allowed_models") == ({"repo": "a/b", "file": "c.gguf", "sha256": ""},)
    assert policy.get("allowed_adapters") == ({"file": "legal.gguf", "sha256": ""},)


def test_macos_managed_preferences_plist_is_read(tmp_path: Path):
    from fireside.core.admin.policy import _read_plist

    p = tmp_path / "com.fireside.Fireside.plist"
    p.write_bytes(plistlib.dumps({"offline_only": True, "max_context": 8192}))
    policy = load_policy([(str(p), lambda: _read_plist(p))])
    assert policy.get("offline_only") is True and policy.get("max_context") == 8192
    broken = tmp_path / "broken.plist"
    broken.write_bytes(b"\x00garbage")
    policy = load_policy([(str(broken), lambda: _read_plist(broken))])
    assert policy.problems and policy.get("allow_keyring_tokens") is False


def test_policy_wins_over_user_settings_per_key(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, {
        "offline_only": True, "allowed_efforts": ["low", "medium"], "default_effort": "low",
        "max_context": 4096, "default_model": "/srv/models/gpt-oss-20b.gguf"}))])
    user = Settings(effort="high", n_ctx=32768, offline=False, text_scale=120)
    eff = effective_settings(user, policy)
    assert eff.offline is True and eff.effort == "low" and eff.n_ctx == 4096
    assert eff.last_model == "/srv/models/gpt-oss-20b.gguf"
    assert eff.text_scale == 120  # not a policy key: the user's
    assert effective_settings(Settings(effort="medium", n_ctx=2048), policy).effort == "medium"
    assert effective_settings(Settings(n_ctx=2048), policy).n_ctx == 2048
    assert effective_settings(Settings(n_ctx=0), policy).n_ctx == 4096  # auto is capped too
    assert lock_reason("offline", policy).startswith(MANAGED)
    assert lock_reason("effort", policy).startswith(MANAGED)
    assert lock_reason("text_scale", policy) == ""


def test_offline_only_false_does_not_lock_the_offline_switch(tmp_path: Path):
    policy = load_policy([_source(_write(tmp_path, {"offline_only": False}))])
    assert lock_reason("offline", policy) == ""
    assert effective_settings(Settings(offline=True), policy).offline is True


def test_refusals_name_the_policy_key(tmp_path: Path):
    p = _write(tmp_path, {"allow_model_downloads": False, "allowed_efforts": ["low"],
                          "allowed_models": [{"repo": "a/b", "file": "ok.gguf"}]})
    policy = load_policy([_source(p)])
    assert "allow_model_downloads" in policy.download_refusal() and str(p) in policy.download_refusal()
    assert "allowed_efforts" in policy.effort_refusal("high")
    assert policy.model_refusal("a/b", "ok.gguf") == ""
    assert "allowed_models" in policy.model_refusal("a/b", "other.gguf")


def test_policy_keeps_tokens_out_of_the_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.core.config.test_secrets import MemoryKeyring

    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(_write(tmp_path,
                                                          {"allow_keyring_tokens": False})))
    backend = MemoryKeyring()
    store = TokenStore(backend)
    assert not store.usable and "policy" in store.status()
    assert "memory only" in store.set("hf_secret")
    assert backend.store == {} and store.get() == "hf_secret"


def test_policy_endpoint_wins_over_hf_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from fireside.core.models.hub import endpoint_from_env

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert endpoint_from_env() == "http://127.0.0.1:9"
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(_write(
        tmp_path, {"hf_endpoint": "https://mirror.example.org/"})))
    assert endpoint_from_env() == "https://mirror.example.org"


def test_downloader_refuses_when_policy_forbids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from fireside.core.models.downloads import Downloader, DownloadError
    from fireside.core.models.hub import RemoteFile

    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(_write(tmp_path, {"offline_only": True})))
    remote = RemoteFile("a/b", "c.gguf", "0" * 40, 10, "", "http://127.0.0.1:9")
    with pytest.raises(DownloadError, match="offline_only") as info:
        Downloader(tmp_path / "models").download(remote)
    assert info.value.kind == "policy"
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(("data", "url", "refused"), [
    ({}, "https://anywhere.example.org/v1", ""),
    ({"allowed_remote_endpoints": "any"}, "https://anywhere.example.org/v1", ""),
    ({"allowed_remote_endpoints": ["*"]}, "http://127.0.0.1:9/v1", ""),
    ({"allowed_remote_endpoints": "none"}, "http://127.0.0.1:9/v1", "turned off"),
    ({"allowed_remote_endpoints": []}, "http://127.0.0.1:9/v1", "turned off"),
    ({"allowed_remote_endpoints": ["https://ai.example.org"]}, "https://AI.example.org/v1/", ""),
    ({"allowed_remote_endpoints": ["https://ai.example.org"]}, "https://ai.example.org", ""),
    ({"allowed_remote_endpoints": ["https://ai.example.org"]}, "https://ai.example.org.evil.net/v1",
     "not on your organisation's list"),
    ({"allowed_remote_endpoints": "any", "offline_only": True}, "https://ai.example.org", "offline_only"),
])
def test_remote_endpoints_none_listed_or_any(tmp_path: Path, data: dict[str, Any], url: str,
                                             refused: str) -> None:
    policy = load_policy([_source(_write(tmp_path, data))])
    assert policy.problems == ()
    if refused:
        assert refused in policy.remote_refusal(url)
    else:
        assert policy.remote_refusal(url) == ""
def test_allowed_adapters_names_and_pins(tmp_path: Path):
    from fireside.core.admin.model_access import adapter_refusal

    legal, support, other = (tmp_path / n for n in ("legal.gguf", "support.gguf", "other.gguf"))
    for p in (legal, support, other):
        p.write_bytes(p.name.encode())
    pinned = hashlib.sha256(b"support.gguf").hexdigest()
    policy = load_policy([_source(_write(tmp_path, {"allowed_adapters": [
        "legal", {"file": "support.gguf", "sha256": pinned}]}))])
    cache = tmp_path / "cache"
    assert adapter_refusal(legal, policy, cache) == ""
    assert adapter_refusal(support, policy, cache) == ""
    refusal = adapter_refusal(other, policy, cache)
    assert "allowed_adapters" in refusal and "other.gguf" in refusal and "\n" not in refusal
    support.write_bytes(b"changed")  # same name, other content: the pin refuses it
    assert "allowed_adapters" in adapter_refusal(support, policy, cache)
    assert adapter_refusal(other, load_policy([]), cache) == ""  # no key: every adapter may load
