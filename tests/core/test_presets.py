"""Presets live in the history database, survive reopening, and tolerate damaged entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fireside.core.presets import STATE_KEY, Preset, delete_preset, load_presets, save_preset
from fireside.core.store import Store


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
