"""Settings survive restarts, damaged files, and live wherever FIRESIDE_HOME says."""

from __future__ import annotations

from pathlib import Path

from fireside.core.config.paths import app_paths
from fireside.core.config.settings import MAX_RECENT_MODELS, Settings, load_settings, save_settings


def test_round_trip_with_awkward_text(tmp_path: Path):
    s = Settings(effort="high", system_prompt='Say "hi"\n\tand \\ \x01 bye', n_ctx=4096)
    for i in range(MAX_RECENT_MODELS + 3):
        s = s.with_recent_model(f"/models/m{i}.gguf")
    save_settings(s, tmp_path / "settings.toml")
    loaded = load_settings(tmp_path / "settings.toml")
    assert loaded == s
    assert loaded.last_model.endswith(f"m{MAX_RECENT_MODELS + 2}.gguf")
    assert len(loaded.recent_models) == MAX_RECENT_MODELS


def test_damaged_file_falls_back_to_defaults_and_is_kept_aside(tmp_path: Path):
    f = tmp_path / "settings.toml"
    f.write_text("effort = [unterminated", encoding="utf-8")
    assert load_settings(f) == Settings()
    assert (tmp_path / "settings.toml.bad").exists()


def test_wrong_types_fall_back_per_key(tmp_path: Path):
    f = tmp_path / "settings.toml"
    f.write_text('effort = "low"\nn_ctx = "big"\nflash_attn = 1\n', encoding="utf-8")
    s = load_settings(f)
    assert (s.effort, s.n_ctx, s.flash_attn) == ("low", Settings().n_ctx, Settings().flash_attn)


def test_unknown_effort_reads_as_medium():
    assert Settings(effort="extreme").effort_enum.value == "medium"


def test_fireside_home_moves_everything(tmp_path: Path):
    paths = app_paths({"FIRESIDE_HOME": str(tmp_path)})
    for p in (paths.config, paths.data, paths.models, paths.cache, paths.logs):
        assert tmp_path in p.parents
    assert app_paths({}).config != paths.config


def test_user_changes_apply_only_what_was_edited():
    from fireside.core.config.settings import apply_user_changes

    user = Settings(effort="high", n_ctx=0)
    shown = Settings(effort="low", n_ctx=4096)  # what a policy made of it
    edited = shown.with_changes(system_prompt="Be brief.")
    after = apply_user_changes(user, shown, edited)
    assert (after.effort, after.n_ctx, after.system_prompt) == ("high", 0, "Be brief.")
    assert apply_user_changes(user, shown, shown) is user
