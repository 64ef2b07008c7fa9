"""Presets: a named system prompt, reasoning effort, (optionally) sampling and LoRA adapters with
their scales to start a chat from: a "domain copilot" is base model + adapters + prompt + effort.

They are kept in the conversation database (its small app_state table, as JSON) rather than in
settings.toml, because they travel with the history a person builds up, and an administrator's
locked settings have no say over them. Reading is forgiving: a damaged entry is skipped, not fatal,
and a sampling value that is missing or out of range is dropped (the model's default is used).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from fireside.core.chat.conversation import AdapterUse, Effort, Sampling
from fireside.core.history.store import Store

STATE_KEY = "presets"
MAX_NAME = 60
# Accepted range of each sampling setting a preset may carry: (low, high, type).
SAMPLING_LIMITS: dict[str, tuple[float, float, type]] = {
    "temperature": (0.0, 2.0, float),
    "top_p": (0.0, 1.0, float),
    "top_k": (0, 1000, int),
    "min_p": (0.0, 1.0, float),
}


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str = ""
    effort: str = Effort.MEDIUM.value
    # Sampling; None for a field means "the loaded model's recommended value".
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    # LoRA adapters (file path, scale) applied to the chat's replies
    adapters: tuple[tuple[str, float], ...] = ()

    def adapter_uses(self) -> tuple[AdapterUse, ...]:
        return tuple(AdapterUse(path, scale) for path, scale in self.adapters)

    @property
    def uses_model_sampling(self) -> bool:
        return all(getattr(self, key) is None for key in SAMPLING_LIMITS)

    def sampling(self, harmony: bool = True) -> Sampling | None:
        """The Sampling for a chat's requests: None when the preset leaves it all to the model,
        otherwise the model's defaults with this preset's values put in."""
        if self.uses_model_sampling:
            return None
        chosen = {key: getattr(self, key) for key in SAMPLING_LIMITS if getattr(self, key) is not None}
        return replace(Sampling.for_model(harmony), **chosen)


def clean_sampling_value(key: str, value: object) -> float | int | None:
    """The value as the right type when it is a number in range; None (model default) otherwise."""
    low, high, kind = SAMPLING_LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and abs(value) > 1 << 53:  # float() of a huge int overflows
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


def _with_sampling(name: str, system_prompt: str, effort: str, value: Callable[[str], object],
                   adapters: tuple[tuple[str, float], ...] = ()) -> Preset:
    """A Preset whose sampling fields are `value(field)`, each cleaned by clean_sampling_value."""
    clean = {key: clean_sampling_value(key, value(key)) for key in SAMPLING_LIMITS}
    top_k = clean["top_k"]  # an int whenever it is not None (its limits say int)
    return Preset(name, system_prompt, effort, temperature=clean["temperature"], top_p=clean["top_p"],
                  top_k=None if top_k is None else int(top_k), min_p=clean["min_p"], adapters=adapters)


def clean_adapters(value: object) -> tuple[tuple[str, float], ...]:
    """(path, scale) pairs from what was saved; entries that are not a path and a usable scale
    are dropped (whether the file is still there is the engine's to say, when it is applied)."""
    out: list[tuple[str, float]] = []
    for entry in value if isinstance(value, list | tuple) else ():
        if isinstance(entry, dict):
            entry = (entry.get("path"), entry.get("scale", 1.0))
        if not (isinstance(entry, list | tuple) and len(entry) == 2):
            continue
        path, scale = entry
        if (isinstance(path, str) and path.strip() and isinstance(scale, int | float)
                and not isinstance(scale, bool) and math.isfinite(scale) and abs(scale) <= 100):
            out.append((path.strip(), float(scale)))
    return tuple(out)


def _as_json(p: Preset) -> dict[str, object]:
    data = asdict(p)
    data["adapters"] = [{"path": path, "scale": scale} for path, scale in p.adapters]
    return data


def clean_name(name: str) -> str:
    """One line, trimmed; ValueError with a sentence when nothing is left."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise ValueError("Give the preset a name.")
    return name


def load_presets(store: Store) -> list[Preset]:
    try:
        raw = json.loads(store.state(STATE_KEY, "[]"))
    except (ValueError, RecursionError):  # damaged: nested too deeply, a 5,000-digit number
        return []
    presets: list[Preset] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        try:
            effort = Effort.parse(str(entry.get("effort", "medium"))).value
            prompt = str(entry.get("system_prompt", ""))
            (entry["name"] + prompt).encode("utf-8")  # a lone surrogate ("\ud800") cannot be saved
            presets.append(_with_sampling(clean_name(entry["name"]), prompt, effort, entry.get,
                                          clean_adapters(entry.get("adapters"))))
        except ValueError:  # UnicodeEncodeError too
            continue
    return presets


def save_preset(store: Store, preset: Preset) -> list[Preset]:
    """Add `preset`, replacing one of the same name; returns the list as saved (sorted by name)."""
    preset = _with_sampling(clean_name(preset.name), preset.system_prompt.strip(),
                            Effort.parse(preset.effort).value, lambda key: getattr(preset, key),
                            clean_adapters(preset.adapters))
    presets = [p for p in load_presets(store) if p.name.casefold() != preset.name.casefold()]
    presets.append(preset)
    presets.sort(key=lambda p: p.name.casefold())
    store.set_state(STATE_KEY, json.dumps([_as_json(p) for p in presets], ensure_ascii=False))
    return presets


def delete_preset(store: Store, name: str) -> list[Preset]:
    presets = [p for p in load_presets(store) if p.name.casefold() != name.casefold()]
    store.set_state(STATE_KEY, json.dumps([_as_json(p) for p in presets], ensure_ascii=False))
    return presets
