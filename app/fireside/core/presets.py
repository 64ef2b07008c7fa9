"""Presets: a named system prompt and reasoning effort to start a new chat from.

They are kept in the conversation database (its small app_state table, as JSON) rather than in
settings.toml, because they travel with the history a person builds up, and an administrator's
locked settings have no say over them. Reading is forgiving: a damaged entry is skipped, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .conversation import Effort
from .store import Store

STATE_KEY = "presets"
MAX_NAME = 60


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str = ""
    effort: str = Effort.MEDIUM.value


def clean_name(name: str) -> str:
    """One line, trimmed; ValueError with a sentence when nothing is left."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise ValueError("Give the preset a name.")
    return name


def load_presets(store: Store) -> list[Preset]:
    try:
        raw = json.loads(store.state(STATE_KEY, "[]"))
    except json.JSONDecodeError:
        return []
    presets: list[Preset] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        try:
            effort = Effort.parse(str(entry.get("effort", "medium"))).value
            presets.append(Preset(clean_name(entry["name"]), str(entry.get("system_prompt", "")), effort))
        except ValueError:
            continue
    return presets


def save_preset(store: Store, preset: Preset) -> list[Preset]:
    """Add `preset`, replacing one of the same name; returns the list as saved (sorted by name)."""
    preset = Preset(clean_name(preset.name), preset.system_prompt.strip(), Effort.parse(preset.effort).value)
    presets = [p for p in load_presets(store) if p.name.casefold() != preset.name.casefold()]
    presets.append(preset)
    presets.sort(key=lambda p: p.name.casefold())
    store.set_state(STATE_KEY, json.dumps([asdict(p) for p in presets], ensure_ascii=False))
    return presets


def delete_preset(store: Store, name: str) -> list[Preset]:
    presets = [p for p in load_presets(store) if p.name.casefold() != name.casefold()]
    store.set_state(STATE_KEY, json.dumps([asdict(p) for p in presets], ensure_ascii=False))
    return presets
