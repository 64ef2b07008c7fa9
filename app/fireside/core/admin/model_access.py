"""May this file be loaded? The organisation's `allowed_models` applies to files on disk too.

Without an allow-list every file may load. With one, a file loads when:
- it sits in a shared folder (an administrator put it there) or is the policy's default model;
- our manifest records it as a download of an allowed repo and file (verified when downloaded);
- or its file name is on the list and, when the list pins a SHA-256, its content matches.
Hashing a 12 GB file takes about a minute, so a match is remembered by path, size and mtime in
the cache folder; this runs on a worker thread or in the CLI, never on the GUI thread.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireside.core.chat.conversation import AdapterUse
from fireside.core.config.paths import expand
from fireside.core.models.folders import ModelDir, NotFound, dir_of, resolve_model

if TYPE_CHECKING:
    from fireside.core.admin.policy import Policy

HASH_CACHE = "allowed-hashes.json"


class LoadRefused(Exception):
    """The file cannot be found or may not be loaded; the message is for the user."""


def prepare_load(name: str, policy: Policy, dirs: list[ModelDir], cache_dir: Path) -> str:
    """The file to load for `name` (a path or an installed model's name), or LoadRefused.

    Walks folders and may hash the file: call it from a worker thread, never the GUI thread.
    """
    path = expand(name) if name else Path()
    if not path.is_absolute():
        try:
            path = resolve_model(name, dirs, policy)
        except NotFound as e:
            raise LoadRefused(str(e)) from None
    # a path that is not there is the engine's to report, with the rest of its file checks
    if path.is_file() and (refusal := load_refusal(path, policy, dirs, cache_dir)):
        raise LoadRefused(refusal)
    return str(path)


def _manifest_entry(path: Path, dirs: list[ModelDir]) -> dict[str, Any]:
    d = dir_of(path, dirs)
    if d is None:
        return {}
    try:
        data = json.loads((d.path / "manifest.json").read_text(encoding="utf-8"))
        return data.get(path.relative_to(d.path).as_posix(), {}) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _sha256(path: Path, cache_dir: Path) -> str:
    st = path.stat()
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = cache_dir / HASH_CACHE
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    cached = cache.get(key) if isinstance(cache, dict) else None
    if isinstance(cached, str):
        return cached
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    try:
        cache = cache if isinstance(cache, dict) else {}
        cache[key] = digest
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        os.replace(tmp, cache_file)
    except OSError:
        pass  # only a cache: the next load hashes again
    return digest


def load_refusal(path: str | Path, policy: Policy, dirs: list[ModelDir], cache_dir: Path) -> str:
    """Why the policy does not let `path` load, or "" when it may."""
    allowed = policy.get("allowed_models")
    if allowed is None:
        return ""
    p = Path(path)
    folder = dir_of(p, dirs)
    if folder is not None and folder.kind == "shared":
        return ""
    default = policy.get("default_model")
    if default:
        try:
            if os.path.samefile(resolve_model(default, dirs), p):
                return ""
        except (OSError, NotFound):
            pass  # a missing default simply does not match
    entry = _manifest_entry(p, dirs)
    for m in allowed:
        pinned = m["sha256"]
        if (entry.get("repo_id") == m["repo"] and entry.get("filename") == m["file"]
                and (not pinned or entry.get("sha256", "").lower() == pinned)):
            return ""
        if p.name == Path(m["file"]).name and (not pinned or _sha256(p, cache_dir) == pinned):
            return ""
    names = ", ".join(Path(m["file"]).name for m in allowed) or "none"
    return (f"{p.name} is not on your organisation's list of allowed models (allowed_models, "
            f"{policy.values['allowed_models'].source}). Models you may use: {names}.")


def adapter_refusal(path: str | Path, policy: Any, cache_dir: Path) -> str:
    """Why the policy's `allowed_adapters` does not let this adapter file be applied, or "".

    Entries name files ("legal.gguf", or "legal"); one with a sha256 matches only that content.
    """
    allowed = policy.get("allowed_adapters")
    if allowed is None:
        return ""
    p = Path(path)
    for entry in allowed:
        if p.name in (entry["file"], f"{entry['file']}.gguf") and (
                not entry["sha256"] or _sha256(p, cache_dir) == entry["sha256"]):
            return ""
    names = ", ".join(e["file"] for e in allowed) or "none"
    return (f"The adapter {p.name} is not on your organisation's list of allowed adapters "
            f"(allowed_adapters, {policy.values['allowed_adapters'].source}). Adapters you may "
            f"use: {names}.")


def adapter_name_refusal(filename: str, policy: Any) -> str:
    """Before a download: why allowed_adapters would refuse a file of this name, or "" (a pinned
    entry is checked again, on the content, once the file is here)."""
    allowed = policy.get("allowed_adapters")
    name = Path(filename).name
    if allowed is None or any(name in (e["file"], e["file"] + ".gguf") for e in allowed):
        return ""
    return (f"{name} is not on your organisation's list of allowed adapters (allowed_adapters, "
            f"{policy.values['allowed_adapters'].source}).")


def prepare_adapters(specs: Iterable[str], policy: Any, folder: Path, cache_dir: Path
                     ) -> tuple[AdapterUse, ...]:
    """"FILE_OR_NAME[:SCALE]" specs as adapters to apply (installed ones found by name in
    `folder`), or LoadRefused when one is not there, badly given, or not allowed by the policy.
    May hash files (a pinned adapter): call it off the GUI thread."""
    from fireside.core.models.adapters import AdapterError, resolve_uses

    try:
        uses = resolve_uses(specs, folder)
    except AdapterError as e:
        raise LoadRefused(str(e)) from None
    for use in uses:
        if refusal := adapter_refusal(use.path, policy, cache_dir):
            raise LoadRefused(refusal)
    return uses
