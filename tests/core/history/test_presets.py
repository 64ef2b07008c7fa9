"""Presets live in the history database, survive reopening, and tolerate damaged entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fireside.core.chat.conversation import Sampling
from fireside.core.history.presets import STATE_KEY, Preset, delete_preset, load_presets, save_preset
from fireside.core.history.store import Store


def test_save_replace_delete_and_reload(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        assert load_presets(store) == []
        save_preset(store, Preset("  Translator ", "Translate to French.", "LOW"))
        save_preset(store, Preset("coder", "Write Python.", "high"))
        saved = save_preset(store, Preset("TRANSLATOR", "Translate to German.", "medium"))
        assert [p.name for p in saved] == ["coder", "TRANSLATOR"]
        assert saved[1] == Preset("TRANSLATOR", "Translate to German.", "medium")
    with Store(tmp_path / "h.sqlite3") as store:
        assert [p.name for p in load_presets(store)] == ["coder", "TRANSLATOR"]
        assert [p.name for p in delete_preset(store, "Coder")] == ["TRANSLATOR"]


@pytest.mark.parametrize("bad", [Preset("   ", "x"), Preset("ok", "x", "extreme")])
def test_invalid_presets_are_refused_with_a_reason(tmp_path: Path, bad: Preset) -> None:
    with Store(tmp_path / "h.sqlite3") as store, pytest.raises(ValueError, match=r"name|effort"):
        save_preset(store, bad)


def test_damaged_entries_are_skipped(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        store.set_state(STATE_KEY, json.dumps([{"name": "good"}, {"nope": 1}, "junk",
                                               {"name": "bad effort", "effort": "max"}]))
        assert load_presets(store) == [Preset("good")]
        store.set_state(STATE_KEY, "{not json")
        assert load_presets(store) == []


def test_sampling_round_trips_and_fills_the_rest_from_the_model(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        save_preset(store, Preset("cool", "x", "low", temperature=0.2, top_p=0.9, top_k=40, min_p=0.05))
        save_preset(store, Preset("plain", "y"))
    with Store(tmp_path / "h.sqlite3") as store:
        cool, plain = load_presets(store)
    assert cool == Preset("cool", "x", "low", temperature=0.2, top_p=0.9, top_k=40, min_p=0.05)
    assert cool.sampling() == Sampling(temperature=0.2, top_p=0.9, top_k=40, min_p=0.05)
    assert plain.uses_model_sampling and plain.sampling() is None
    only_temp = Preset("t", temperature=0.5)
    assert only_temp.sampling(harmony=True) == Sampling(temperature=0.5)
    assert only_temp.sampling(harmony=False) == Sampling(temperature=0.5, top_p=0.95, top_k=40, min_p=0.05)


def test_old_presets_without_sampling_still_load(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        store.set_state(STATE_KEY, json.dumps([{"name": "old", "system_prompt": "Hi.", "effort": "high"}]))
        [old] = load_presets(store)
    assert old == Preset("old", "Hi.", "high") and old.sampling() is None


def test_bad_sampling_values_are_dropped_not_fatal(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as store:
        store.set_state(STATE_KEY, json.dumps([{
            "name": "odd", "temperature": "hot", "top_p": 7, "top_k": 2.5, "min_p": True}, {
            "name": "half", "temperature": -1, "top_p": None, "top_k": 40, "min_p": 0.1}]))
        odd, half = load_presets(store)
        assert odd == Preset("odd") and odd.sampling() is None
        assert half == Preset("half", top_k=40, min_p=0.1)
        saved = save_preset(store, Preset("nan", temperature=float("nan"), top_p=0.5))
        assert [p for p in saved if p.name == "nan"] == [Preset("nan", top_p=0.5)]


def test_a_preset_carries_adapters_with_scales(tmp_path: Path) -> None:
    """A domain copilot: base model + adapters + system prompt + effort + sampling."""
    from fireside.core.chat.conversation import AdapterUse

    legal = Preset("Legal", "Answer as a contracts lawyer.", "high", temperature=0.3,
                   adapters=(("/adapters/legal.gguf", 0.8), ("/adapters/tone.gguf", 1.0)))
    with Store(tmp_path / "h.sqlite3") as store:
        save_preset(store, legal)
        raw = json.loads(store.state(STATE_KEY, "[]"))
        assert raw[0]["adapters"] == [{"path": "/adapters/legal.gguf", "scale": 0.8},
                                      {"path": "/adapters/tone.gguf", "scale": 1.0}]
    with Store(tmp_path / "h.sqlite3") as store:
        [loaded] = load_presets(store)
        assert loaded == legal
        assert loaded.adapter_uses() == (AdapterUse("/adapters/legal.gguf", 0.8),
                                         AdapterUse("/adapters/tone.gguf", 1.0))
        store.set_state(STATE_KEY, json.dumps([{"name": "odd", "adapters": [
            {"path": "/a.gguf", "scale": "big"}, {"path": "", "scale": 1}, {"scale": 1}, "junk",
            {"path": "/b.gguf", "scale": float("1e9")}, {"path": "/c.gguf"}]}]))
        [odd] = load_presets(store)
        assert odd.adapters == (("/c.gguf", 1.0),)
