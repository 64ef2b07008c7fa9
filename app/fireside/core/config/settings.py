"""User settings: one typed object with defaults, saved as TOML with an atomic write.

A crash mid-save never leaves half a file: we write a temp file beside it and rename. A damaged
file is set aside (settings.toml.bad) and defaults are used, so the app always starts.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireside.core.chat.conversation import Effort

if TYPE_CHECKING:
    from fireside.core.admin.policy import Policy

MAX_RECENT_MODELS = 8


@dataclass(frozen=True)
class Settings:
    effort: str = Effort.MEDIUM.value
    system_prompt: str = ""
    last_model: str = ""
    recent_models: tuple[str, ...] = field(default_factory=tuple)
    n_ctx: int = 0  # 0: the fit planner picks the largest context this machine holds
    auto_fit: bool = True  # let the fit planner choose GPU offload and experts on CPU
    n_threads: int = 0  # 0: one per physical core
    n_gpu_layers: int = 0
    flash_attn: bool = True
    # Prompt-lookup speculative decoding. Off by default: llama.cpp's CPU kernels compute a row
    # of a batch slightly differently from a single token, so greedy output can change.
    speculative: bool = False
    show_reasoning_panel: bool = True
    text_scale: int = 100  # percent of the system font size for the chat (View ▸ Larger Text)
    offline: bool = False  # when on, nothing touches the network (downloads refuse to start)
    # The local API server (server/): where it listens, whether a request may load another
    # installed model, and the web origins allowed to call it (none: no CORS headers at all).
    api_host: str = "127.0.0.1"
    api_port: int = 8765
    api_load_on_demand: bool = True
    api_cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def with_recent_model(self, path: str) -> Settings:
        recent = (path, *(p for p in self.recent_models if p != path))[:MAX_RECENT_MODELS]
        return replace(self, last_model=path, recent_models=recent)

    @property
    def effort_enum(self) -> Effort:
        try:
            return Effort.parse(self.effort)
        except ValueError:
            return Effort.MEDIUM


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Keep a stored value only if it has the default's type; anything else falls back."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if isinstance(default, str):
        return value if isinstance(value, str) else default
    if isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return default
    return default


def load_settings(path: Path) -> Settings:
    defaults = Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return defaults
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        try:
            path.replace(path.with_name(path.name + ".bad"))
        except OSError:
            pass
        return defaults
    values = {
        f.name: _coerce(f.name, raw[f.name], getattr(defaults, f.name))
        for f in fields(Settings)
        if f.name in raw
    }
    return replace(defaults, **values)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t")
        )
        escaped = "".join(c if ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot store {type(value).__name__} in settings")


def save_settings(settings: Settings, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{f.name} = {_toml_value(getattr(settings, f.name))}\n" for f in fields(Settings))
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- admin policy on top of the user's settings (see policy.py) -------------------------------
def effective_settings(user: Settings, policy: Policy) -> Settings:
    """The settings the app runs with: the user's, with every key the policy locks overridden."""
    changes: dict[str, Any] = {}
    if policy.get("offline_only") is True:
        changes["offline"] = True
    allowed = policy.get("allowed_efforts")
    if allowed is not None and user.effort not in allowed:
        default = policy.get("default_effort")
        changes["effort"] = default if default in allowed else allowed[0]
    elif allowed is None and policy.get("default_effort") and user.effort not in (
            e.value for e in Effort):
        changes["effort"] = policy.get("default_effort")
    ceiling = policy.get("max_context")
    if ceiling is not None and (user.n_ctx <= 0 or user.n_ctx > ceiling):
        changes["n_ctx"] = ceiling  # with auto_fit the planner treats n_ctx as a ceiling
    if not user.last_model and policy.get("default_model"):
        changes["last_model"] = policy.get("default_model")
    return replace(user, **changes) if changes else user


def apply_user_changes(user: Settings, shown: Settings, edited: Settings) -> Settings:
    """The user's own settings after they edited what was shown to them (the effective view).

    Only the fields they actually changed are taken over, so a value the policy overrides is
    not written into their file: when the organisation lifts the policy, their choice returns.
    """
    changes = {
        f.name: getattr(edited, f.name)
        for f in fields(Settings)
        if getattr(edited, f.name) != getattr(shown, f.name)
    }
    return replace(user, **changes) if changes else user


_SETTING_TO_POLICY = {"offline": "offline_only", "effort": "allowed_efforts", "n_ctx": "max_context"}


def lock_reason(setting: str, policy: Policy) -> str:
    """Why a user setting cannot be changed freely ("" when it can), for a tooltip or the CLI."""
    key = _SETTING_TO_POLICY.get(setting)
    if key is None or not policy.locked(key):
        return ""
    if key == "offline_only" and policy.get(key) is not True:
        return ""
    return policy.why(key)
