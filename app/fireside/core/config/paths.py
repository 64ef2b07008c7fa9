"""Where Fireside keeps its files. platformdirs picks the OS's places; FIRESIDE_HOME moves them all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from fireside.core.admin.policy import Policy

APP_NAME = "Fireside"


@dataclass(frozen=True)
class Paths:
    config: Path  # settings.toml
    data: Path  # conversations
    models: Path  # downloaded and imported GGUFs
    cache: Path
    logs: Path

    @property
    def adapters(self) -> Path:
        """Installed LoRA adapters (links or copies), apart from the models."""
        return self.data / "adapters"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.toml"

    def ensure(self) -> Paths:
        for p in (self.config, self.data, self.models, self.cache, self.logs):
            p.mkdir(parents=True, exist_ok=True)
        return self

    def as_json(self) -> dict[str, str]:
        return {k: str(getattr(self, k)) for k in ("config", "data", "models", "cache", "logs")}


def app_paths(env: dict[str, str] | None = None, policy: Policy | None = None) -> Paths:
    """Resolve paths now (not at import), so tests and portable installs can set FIRESIDE_HOME.

    An organisation's policy may move the models folder (`user_model_dir`, e.g. to a larger
    disk); it wins over FIRESIDE_HOME for that one folder. Pass `policy` when you have read it.
    """
    from dataclasses import replace

    from fireside.core.admin.policy import load_policy

    paths = _default_paths(os.environ if env is None else env)
    pinned = (policy if policy is not None else load_policy()).get("user_model_dir")
    if pinned:
        paths = replace(paths, models=expand(pinned))
    return paths


def user_cache_dir() -> Path:
    """The cache folder alone (FIRESIDE_HOME honoured), without reading the policy."""
    return _default_paths(os.environ).cache


def expand(text: str) -> Path:
    """~, $USER and %USERNAME% in policy paths, so one policy file serves every user."""
    return Path(os.path.expandvars(os.path.expanduser(text)))


def _default_paths(env: dict[str, str] | os._Environ[str]) -> Paths:
    home = env.get("FIRESIDE_HOME", "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(
            config=root / "config",
            data=root / "data",
            models=root / "models",
            cache=root / "cache",
            logs=root / "logs",
        )
    data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return Paths(
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data=data,
        models=data / "models",
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )
