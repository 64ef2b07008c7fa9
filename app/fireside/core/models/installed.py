"""Installed models: what is in the models folder, where it came from, and how to check it.

A small manifest (`<models>/manifest.json`, written atomically) remembers each download's repo,
commit and the SHA-256 the Hub published, so `verify` can re-check a file years later without the
network. Imported files are validated with gguf_info before they are added; "link" leaves the file
where it is (a symlink in the models folder), "copy" duplicates it. Removing a linked model
removes the link, never the user's original file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fireside.core.models.folders import ModelDir
from fireside.core.models.gguf_info import GGUFError, GGUFInfo, read_gguf
from fireside.core.models.hub import RemoteFile

MANIFEST = "manifest.json"


class ModelError(Exception):
    """Something the user asked for cannot be done; the message says why and what to do."""


class ChecksumMismatch(ModelError):
    """The file's content is not what the given SHA-256 says: damaged, or not the expected file."""


@dataclass(frozen=True)
class InstalledModel:
    path: Path  # inside the models folder (may be a symlink for linked imports)
    size: int
    source: dict[str, Any]  # repo_id/filename/revision/sha256 for downloads, {"imported": ...}
    folder: ModelDir | None = None  # set by list_all: where it was found

    @property
    def shared(self) -> bool:
        """In a folder users only read (the organisation's, or FIRESIDE_MODELS)."""
        return self.folder is not None and not self.folder.writable

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def linked(self) -> bool:
        return self.path.is_symlink()


def _read_manifest(models: Path) -> dict[str, Any]:
    try:
        data = json.loads((models / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_manifest(models: Path, data: dict[str, Any]) -> None:
    models.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=models)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, models / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key(models: Path, path: Path) -> str:
    return path.relative_to(models).as_posix()


def record_download(models: Path, remote: RemoteFile, path: Path) -> None:
    data = _read_manifest(models)
    data[_key(models, path)] = {"repo_id": remote.repo_id, "filename": remote.filename,
                                "revision": remote.revision, "sha256": remote.sha256,
                                "size": remote.size}
    _write_manifest(models, data)


def already_installed(models: Path, remote: RemoteFile) -> Path | None:
    """The file from this exact Hub blob, if we downloaded it before and it is still whole-sized."""
    for key, src in _read_manifest(models).items():
        path = models / key
        if (remote.sha256 and src.get("sha256") == remote.sha256 and path.is_file()
                and path.stat().st_size == remote.size):
            return path
    return None


def list_installed(models: Path) -> list[InstalledModel]:
    if not models.is_dir():
        return []
    manifest = _read_manifest(models)
    out = []
    for p in sorted(models.rglob("*.gguf")):
        rel = p.relative_to(models)
        if rel.parts[0].startswith("."):
            continue  # .partial and friends
        size = p.stat().st_size if p.exists() else 0  # a dangling link shows as 0 bytes
        out.append(InstalledModel(p, size, manifest.get(rel.as_posix(), {})))
    return out


def list_all(dirs: list[ModelDir]) -> list[InstalledModel]:
    """Every model in every folder, in resolution order; a name found twice keeps its first."""
    out: list[InstalledModel] = []
    for d in dirs:
        try:
            out += [replace(m, folder=d) for m in list_installed(d.path)]
        except OSError:
            continue  # an unreachable share is not the user's problem to see here
    return out


def find_installed(models: Path, name_or_path: str,
                   candidates: list[InstalledModel] | None = None) -> InstalledModel:
    candidates = list_installed(models) if candidates is None else candidates
    target = Path(name_or_path).expanduser()
    for m in candidates:
        root = m.folder.path if m.folder is not None else models
        if name_or_path in (m.name, _key(root, m.path)) or (target.exists() and m.path == target):
            return m
    raise ModelError(f"No installed model called {name_or_path!r}. "
                     "`fireside models list` shows what is installed.")


def import_model(models: Path, source: Path, *, copy: bool) -> tuple[InstalledModel, GGUFInfo]:
    """Validate first (a broken file is never added), then link or copy into models/imported/."""
    try:
        info = read_gguf(source)
    except GGUFError as e:
        raise ModelError(f"Not imported: {e}") from None
    dest = models / "imported" / source.name
    if dest.exists() or dest.is_symlink():
        raise ModelError(f"A model called {source.name} is already imported; remove it first.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        tmp = dest.with_name(dest.name + ".copying")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    else:
        try:
            dest.symlink_to(source.resolve())
        except OSError as e:
            raise ModelError(f"Could not link to {source} ({e.strerror}); import it as a copy "
                             "instead.") from None
    data = _read_manifest(models)
    data[_key(models, dest)] = {"imported": str(source.resolve()), "copied": copy}
    _write_manifest(models, data)
    return InstalledModel(dest, info.file_size, data[_key(models, dest)]), info


def remove_model(models: Path, model: InstalledModel) -> None:
    model.path.unlink()  # for a link this removes the link only
    data = _read_manifest(models)
    data.pop(_key(models, model.path), None)
    _write_manifest(models, data)
    parent = model.path.parent
    while parent != models and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def verify_model(model: InstalledModel,
                 on_progress: Callable[[int, int], None] | None = None) -> str:
    """Header check always; SHA-256 against the Hub's value when we downloaded it."""
    try:
        read_gguf(model.path)
    except GGUFError as e:
        raise ModelError(str(e)) from None
    expected = model.source.get("sha256")
    if not expected:
        return f"{model.name}: the header is valid (imported file, so there is no Hub checksum)."
    h, done = hashlib.sha256(), 0
    with model.path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, model.size)
    if h.hexdigest() != expected:
        raise ModelError(f"{model.name} is damaged: its SHA-256 no longer matches the Hub's. "
                         "Remove it and download it again.")
    return f"{model.name}: the header is valid and the SHA-256 matches the Hub's."


# -- the machine-wide folder an administrator fills -------------------------------------------
def expected_from_sums(sums_file: Path, name: str) -> str:
    """The SHA-256 a `sha256sum`-style file lists for `name` ("HEX  name" or "HEX *name")."""
    try:
        lines = sums_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"Could not read {sums_file}: {e}") from None
    for line in lines:
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and Path(parts[1].lstrip("*").strip()).name == name:
            return _checked_hex(parts[0], str(sums_file))
    raise ModelError(f"{sums_file} lists no SHA-256 for {name}.")


def _checked_hex(text: str, where: str) -> str:
    h = text.strip().lower()
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ModelError(f"{where} does not give a SHA-256 (64 hexadecimal characters): {text!r}")
    return h


def import_shared(shared: Path, source: Path, sha256: str,
                  on_progress: Callable[[int, int], None] | None = None) -> InstalledModel:
    """Copy a GGUF into the machine-wide folder, hashing while copying; keep it only if it matches.

    The file ends up world-readable and owned by whoever ran this (an administrator), so users
    can load it but not change or delete it.
    """
    expected = _checked_hex(sha256, "The given checksum")
    try:
        info = read_gguf(source)
    except GGUFError as e:
        raise ModelError(f"Not imported: {e}") from None
    dest = shared / source.name
    try:
        shared.mkdir(parents=True, exist_ok=True)
        os.chmod(shared, 0o755)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{source.name}.", suffix=".importing", dir=shared)
    except PermissionError:
        raise ModelError(f"Importing into the shared folder {shared} needs administrator rights: "
                         "run the command with sudo (or as Administrator).") from None
    except OSError as e:
        raise ModelError(f"Could not write to {shared}: {e.strerror}.") from None
    tmp = Path(tmp_name)
    h, done = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(8 << 20):
                h.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, info.file_size)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != expected:
            raise ChecksumMismatch(f"{source.name} does not match the expected SHA-256, so it was not "
                             f"imported (expected {expected}, the file has {h.hexdigest()}). "
                             "Download it again or check the checksum you were given.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"Could not copy {source.name} into {shared}: {e.strerror}. "
                         "Nothing was changed there.") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    data = _read_manifest(shared)
    data[_key(shared, dest)] = {"imported": str(source.resolve()), "sha256": expected, "shared": True}
    _write_manifest(shared, data)
    os.chmod(shared / MANIFEST, 0o644)
    return InstalledModel(dest, info.file_size, data[_key(shared, dest)])
