"""Where models are looked for, in order, and how a name becomes a file.

Resolution order (docs/ADMIN.md):
1. a path the policy pins (`default_model` given as a path), or any existing path the user gives;
2. the folders in `FIRESIDE_MODELS` (os.pathsep-separated), for portable and scripted setups;
3. shared folders: the policy's `shared_model_dirs`, then the machine-wide folder that
   `fireside models import --shared` fills (platformdirs' site data dir, e.g.
   /usr/local/share/Fireside/models, C:\\ProgramData\\Fireside\\models);
4. the user's own models folder (the policy's `user_model_dir` when set).

Shared folders are read-only for users: Fireside lists and loads from them, never writes or
deletes there. Models are memory-mapped, so users loading the same shared file share its pages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from fireside.core.config.paths import APP_NAME, Paths, expand

if TYPE_CHECKING:
    from fireside.core.admin.policy import Policy

SHARED_ENV = "FIRESIDE_SHARED_MODELS_DIR"  # moves the machine-wide folder (tests, portable installs)
MODELS_ENV = "FIRESIDE_MODELS"


@dataclass(frozen=True)
class ModelDir:
    path: Path
    kind: str  # "env", "shared" or "user"
    origin: str  # where this folder comes from, in words a person understands

    @property
    def writable(self) -> bool:
        return self.kind == "user"


def site_models_dir(env: Mapping[str, str] | None = None) -> Path:
    """The machine-wide folder an administrator pre-seeds with `models import --shared`."""
    env = os.environ if env is None else env
    override = env.get(SHARED_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.site_data_dir(APP_NAME, appauthor=False)) / "models"


def model_dirs(paths: Paths, policy: Policy, env: Mapping[str, str] | None = None) -> list[ModelDir]:
    env = os.environ if env is None else env
    out: list[ModelDir] = []
    for part in env.get(MODELS_ENV, "").split(os.pathsep):
        if part.strip():
            out.append(ModelDir(expand(part.strip()), "env", MODELS_ENV))
    for d in policy.get("shared_model_dirs") or ():
        out.append(ModelDir(expand(d), "shared", "shared by your organisation"))
    out.append(ModelDir(site_models_dir(env), "shared", "shared on this computer"))
    out.append(ModelDir(paths.models, "user", "your models folder"))
    seen: set[str] = set()
    unique = []
    for d in out:
        key = os.path.normcase(os.path.abspath(d.path))
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def dir_of(path: Path, dirs: list[ModelDir]) -> ModelDir | None:
    """The listed folder that holds `path` (resolved, so a symlinked import counts where it sits)."""
    p = os.path.abspath(path)
    for d in dirs:
        root = os.path.abspath(d.path)
        if p == root or p.startswith(root.rstrip(os.sep) + os.sep):
            return d
    return None


class NotFound(Exception):
    """No model of that name in any folder; the message lists where Fireside looked."""


def resolve_model(name: str, dirs: list[ModelDir], policy: Policy | None = None) -> Path:
    """An existing path as given; else the first folder (in order) holding that file name.

    An empty name means the organisation's default model, when the policy names one.
    """
    if not name and policy is not None:
        name = policy.get("default_model") or ""
    if not name:
        raise NotFound("No model given, and your organisation's policy names no default model.")
    given = expand(name)
    if given.is_file():
        return given
    no_file = NotFound(f"No file at {given}. Check the path, or give the name of an installed model "
                       "(`fireside models list` shows them).")
    if given.is_absolute():
        raise no_file
    for d in dirs:
        if (d.path / given).is_file():
            return d.path / given
    if given.parent == Path("."):
        for d in dirs:
            if d.path.is_dir():
                hit = next((p for p in sorted(d.path.rglob(given.name))
                            if p.is_file() and not p.relative_to(d.path).parts[0].startswith(".")),
                           None)
                if hit is not None:
                    return hit
    if given.parent != Path(".") and not (dirs and (dirs[-1].path / given.parts[0]).is_dir()):
        raise no_file  # looks like a path from here, not a name from a models folder
    where = "; ".join(str(d.path) for d in dirs)
    raise NotFound(f"No model called {name!r} was found. Looked in: {where}.")
