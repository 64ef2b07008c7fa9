"""Pre-seeded shared models as an admin and a user meet them: import with a checksum, find by name,
read-only for users, and the organisation's allow-list applied to files on disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO, FILE = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"


def fireside(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "fireside.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("fireside: "), r.stderr
    return lines[0]


def _policy(data: dict[str, Any]) -> None:
    Path(os.environ["FIRESIDE_POLICY_FILE"]).write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def model_file(tmp_path: Path, tiny_gptoss_path: Path) -> Path:
    p = tmp_path / "incoming" / FILE
    p.parent.mkdir()
    p.write_bytes(tiny_gptoss_path.read_bytes())
    return p


@pytest.fixture
def shared() -> Path:
    return Path(os.environ["FIRESIDE_SHARED_MODELS_DIR"])


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _import_shared(p: Path) -> subprocess.CompletedProcess[str]:
    return fireside("models", "import", "--shared", str(p), "--sha256", _sha(p))


def test_import_shared_with_sha256_then_every_user_sees_it_read_only(model_file: Path, shared: Path,
                                                                      tmp_path: Path):
    r = fireside("models", "import", "--shared", str(model_file), "--sha256", _sha(model_file).upper())
    assert r.returncode == 0, r.stderr
    dest = shared / FILE
    assert dest.read_bytes() == model_file.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o644  # readable by all, writable by the admin only
    assert shared.stat().st_mode & 0o777 == 0o755
    assert not [p for p in shared.iterdir() if p.name.endswith(".importing")]

    # Another user (another FIRESIDE_HOME) sees it without downloading, and can verify it.
    other = {"FIRESIDE_HOME": str(tmp_path / "other-user")}
    listed = json.loads(fireside("models", "list", "--json", extra_env=other).stdout)
    [row] = listed["installed"]
    assert row["path"] == str(dest) and row["shared"] is True
    kinds = [d["kind"] for d in listed["search_order"]]
    assert kinds == ["shared", "user"]
    v = fireside("models", "verify", FILE, extra_env=other)
    assert v.returncode == 0 and "SHA-256 matches" in v.stdout

    # A user cannot delete it; an administrator can, with --shared.
    assert "shared with every user" in _one_line(fireside("models", "remove", FILE, extra_env=other))
    assert dest.is_file()
    rm = fireside("models", "remove", "--shared", FILE)
    assert rm.returncode == 0, rm.stderr
    assert not dest.exists()


def test_import_shared_with_a_sums_file(model_file: Path, shared: Path, tmp_path: Path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{'0' * 64}  other.gguf\n{_sha(model_file)} *{FILE}\n", encoding="utf-8")
    r = fireside("models", "import", "--shared", str(model_file), "--sums", str(sums))
    assert r.returncode == 0, r.stderr
    assert (shared / FILE).is_file()


def test_a_checksum_mismatch_imports_nothing(model_file: Path, shared: Path):
    r = fireside("models", "import", "--shared", str(model_file), "--sha256", "ab" * 32)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("fireside: ")
    assert "does not match the expected SHA-256" in r.stderr
    assert not shared.exists() or not any(shared.iterdir())


@pytest.mark.parametrize("args, expect", [
    ((), "needs the file's expected checksum"),
    (("--sha256", "xyz"), "64 hexadecimal"),
    (("--sums", "/nonexistent/SHA256SUMS"), "Could not read"),
])
def test_shared_import_bad_input_exits_2(model_file: Path, shared: Path, args: tuple[str, ...], expect: str):
    assert expect in _one_line(fireside("models", "import", "--shared", str(model_file), *args))
    assert not (shared / FILE).exists()


def test_a_damaged_file_is_refused_before_copying(model_file: Path, shared: Path):
    data = bytearray(model_file.read_bytes())
    model_file.write_bytes(bytes(data[: len(data) // 2]))
    r = fireside("models", "import", "--shared", str(model_file), "--sha256", _sha(model_file))
    assert "Not imported" in _one_line(r)
    assert not (shared / FILE).exists()


def test_chat_finds_a_model_by_name_in_resolution_order(model_file: Path, shared: Path, tmp_path: Path):
    """FIRESIDE_MODELS comes before shared folders, which come before the user's own."""
    assert _import_shared(model_file).returncode == 0
    r = fireside("chat", "--model", FILE, "--print-prompt", "hi")
    assert r.returncode == 0 and "<|start|>user<|message|>hi" in r.stdout

    env_dir = tmp_path / "env-models"
    env_dir.mkdir()
    (env_dir / FILE).write_bytes(b"GGUF broken")  # found first, so its problem is the one reported
    r = fireside("chat", "--model", FILE, "--print-prompt", "hi", extra_env={"FIRESIDE_MODELS": str(env_dir)})
    assert r.returncode == 2 and str(env_dir / FILE) in r.stderr

    missing = fireside("chat", "--model", "nope.gguf", "hi")
    assert "No model called 'nope.gguf'" in _one_line(missing) and str(shared) in missing.stderr


def test_policy_default_model_is_used_when_no_model_is_given(model_file: Path):
    _policy({"default_model": str(model_file)})
    r = fireside("chat", "--print-prompt", "hi")
    assert r.returncode == 0 and "<|start|>user<|message|>hi" in r.stdout
    _policy({})
    assert "names no default model" in _one_line(fireside("chat", "hi"))


def test_policy_user_model_dir_moves_the_users_models_folder(model_file: Path, tmp_path: Path):
    target = tmp_path / "big-disk" / "$USER-models"
    _policy({"user_model_dir": str(target)})
    r = fireside("models", "import", "--copy", str(model_file), extra_env={"USER": "ada"})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "big-disk" / "ada-models" / "imported" / FILE).is_file()
    listed = json.loads(fireside("models", "list", "--json", extra_env={"USER": "ada"}).stdout)
    assert listed["models_dir"] == str(tmp_path / "big-disk" / "ada-models")


def test_allowed_models_blocks_a_local_file_not_on_the_list(model_file: Path, tmp_path: Path):
    other = tmp_path / "stray.gguf"
    other.write_bytes(model_file.read_bytes())
    _policy({"allowed_models": [{"repo": REPO, "file": FILE, "sha256": _sha(model_file)}]})
    line = _one_line(fireside("chat", "--model", str(other), "--print-prompt", "hi"))
    assert "not on your organisation's list of allowed models" in line and FILE in line

    ok = fireside("chat", "--model", str(model_file), "--print-prompt", "hi")  # name and hash match
    assert ok.returncode == 0, ok.stderr

    renamed = tmp_path / "renamed" / FILE  # the right name is not enough when the hash is pinned
    renamed.parent.mkdir()
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0x01  # one weight bit: still a valid GGUF, no longer the pinned file
    renamed.write_bytes(bytes(data))
    assert "not on your organisation's list" in _one_line(
        fireside("chat", "--model", str(renamed), "--print-prompt", "hi"))


def test_shared_models_are_allowed_because_an_admin_put_them_there(model_file: Path, shared: Path):
    assert _import_shared(model_file).returncode == 0
    _policy({"allowed_models": [{"repo": REPO, "file": "something-else.gguf", "sha256": ""}]})
    r = fireside("chat", "--model", FILE, "--print-prompt", "hi")
    assert r.returncode == 0, r.stderr


def test_doctor_reports_the_model_search_order(tmp_path: Path, shared: Path):
    _policy({"shared_model_dirs": [str(tmp_path / "nas"), "~/team-models"]})
    env = {"FIRESIDE_MODELS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]),
           "HOME": str(tmp_path / "home")}
    report = json.loads(fireside("doctor", "--json", extra_env=env).stdout)
    order = [(d["kind"], d["path"]) for d in report["model_search_order"]]
    assert order == [("env", str(tmp_path / "a")), ("env", str(tmp_path / "b")),
                     ("shared", str(tmp_path / "nas")), ("shared", str(tmp_path / "home" / "team-models")),
                     ("shared", str(shared)), ("user", os.environ["FIRESIDE_HOME"] + "/models")]
    assert report["policy"]["values"]["shared_model_dirs"]["source"] == os.environ["FIRESIDE_POLICY_FILE"]


def test_a_model_in_a_policy_shared_folder_is_found_by_name(model_file: Path, tmp_path: Path):
    nas = tmp_path / "nas"
    nas.mkdir()
    (nas / "team.gguf").write_bytes(model_file.read_bytes())
    assert "No model called 'team.gguf'" in _one_line(fireside("chat", "--model", "team.gguf", "hi"))
    _policy({"shared_model_dirs": [str(nas)]})
    r = fireside("chat", "--model", "team.gguf", "--print-prompt", "hi")
    assert r.returncode == 0 and "<|start|>user<|message|>hi" in r.stdout
    listed = json.loads(fireside("models", "list", "--json").stdout)
    assert [(m["name"], m["shared"], m["folder"]) for m in listed["installed"]] == [
        ("team.gguf", True, "shared by your organisation")]
