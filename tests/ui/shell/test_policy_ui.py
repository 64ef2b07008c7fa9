"""Admin policy in the window: locked settings greyed out and explained; a broken policy shown."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import Effort
from fireside.core.config.settings import Settings, load_settings
from fireside.ui import wording
from fireside.ui.models.load_settings import LoadSettingsDialog
from tests.helpers.stubs import ScriptedEngine


def _policy(data: Any) -> Path:
    p = Path(os.environ["FIRESIDE_POLICY_FILE"])
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def test_locked_offline_and_context_are_disabled_and_explained(qtbot):
    _policy({"offline_only": True, "max_context": 4096})
    dialog = LoadSettingsDialog(Settings(offline=False, n_ctx=32768))
    qtbot.addWidget(dialog)
    assert not dialog.offline_check.isEnabled() and dialog.offline_check.isChecked()
    assert dialog.offline_check.toolTip().startswith(wording.MANAGED)
    assert wording.MANAGED in dialog.offline_check.text()
    assert dialog.ctx_spin.maximum() == 4096 and wording.MANAGED in dialog.ctx_spin.toolTip()
    assert "your organisation allows at most 4,096" in dialog.ctx_spin.suffix()


def test_without_a_policy_nothing_is_locked(qtbot):
    dialog = LoadSettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.offline_check.isEnabled() and dialog.offline_check.toolTip() == ""
    assert dialog.ctx_spin.maximum() > 4096


def test_effort_picker_offers_only_allowed_efforts(qtbot, make_window):
    _policy({"allowed_efforts": ["low", "medium"]})
    window = make_window(ScriptedEngine())
    combo = window.composer.effort_combo
    enabled = {combo.itemData(i): combo.model().item(i).isEnabled() for i in range(combo.count())}
    assert enabled == {"low": True, "medium": True, "high": False}
    texts = [combo.model().item(i).text() for i in range(combo.count())]
    assert texts == ["Low", "Medium", "High (turned off by your organisation)"]
    assert combo.isEnabled() and combo.toolTip().startswith(wording.MANAGED)
    assert window.error_banner.isHidden()


def test_single_allowed_effort_locks_the_picker_and_wins_over_the_user(qtbot, make_window, paths):
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text('effort = "high"\n', encoding="utf-8")
    _policy({"allowed_efforts": ["low"]})
    window = make_window(ScriptedEngine())
    assert window.composer.effort() is Effort.LOW and window.settings.effort == "low"
    assert not window.composer.effort_combo.isEnabled()
    assert window.composer.effort_combo.toolTip().startswith(wording.MANAGED)
    window.composer.set_effort_supported(True)  # a gpt-oss model loads: still locked
    assert not window.composer.effort_combo.isEnabled()
    assert load_settings(paths.settings_file).effort == "high"  # the user's choice is kept


def test_invalid_policy_is_shown_as_a_banner_at_start_up(qtbot, make_window):
    p = _policy("{not json")
    window = make_window(ScriptedEngine())
    assert not window.error_banner.isHidden()
    assert window.error_banner.title_label.text() == wording.POLICY_PROBLEM_TITLE
    assert str(p) in window.error_banner.text_label.text()
    assert window.composer.effort() is Effort.LOW  # most restrictive reading


def test_a_locked_value_is_not_written_over_the_users_own_choice(qtbot, make_window, paths):
    """The policy forces low effort and offline; the user's file keeps high and online, so their
    choices come back when the organisation lifts the policy."""
    from fireside.core.config.settings import save_settings

    save_settings(Settings(effort="high", offline=False), paths.settings_file)
    _policy({"allowed_efforts": ["low"], "offline_only": True})
    window = make_window(ScriptedEngine())
    assert window.settings.effort == "low" and window.settings.offline is True
    window.settings_controller.update(window.settings.with_changes(text_scale=125))  # an unrelated edit
    saved = load_settings(paths.settings_file)
    assert (saved.effort, saved.offline, saved.text_scale) == ("high", False, 125)
    assert window.settings.effort == "low" and window.settings.text_scale == 125


def test_a_model_off_the_allowed_list_is_refused_before_the_engine_sees_it(qtbot, make_window,
                                                                           tiny_gptoss_path: Path,
                                                                           tmp_path: Path):
    stray = tmp_path / "stray.gguf"
    stray.write_bytes(tiny_gptoss_path.read_bytes())
    _policy({"allowed_models": [{"repo": "ggml-org/gpt-oss-20b-GGUF", "file": "gpt-oss-20b-mxfp4.gguf",
                                 "sha256": ""}]})
    engine = ScriptedEngine()
    window = make_window(engine)
    with qtbot.waitSignal(window.modelLoadFailed, timeout=5000) as blocker:
        window.load_model(str(stray))
    assert "not on your organisation's list of allowed models" in blocker.args[0]
    assert "gpt-oss-20b-mxfp4.gguf" in window.error_banner.text_label.text()
    assert window.model_info is None and engine.info is None


def test_the_organisations_default_model_opens_at_start_up(qtbot, tiny_gptoss_path: Path, paths):
    from fireside.ui.shell.main_window import MainWindow

    shared = Path(os.environ["FIRESIDE_SHARED_MODELS_DIR"])
    shared.mkdir(parents=True)
    (shared / "team.gguf").write_bytes(tiny_gptoss_path.read_bytes())
    _policy({"default_model": "team.gguf", "allowed_models": []})  # by name, from the shared folder
    engine = ScriptedEngine()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths, auto_load_last=True)
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.model_info is not None, timeout=5000)
        assert window.model_info.path == str(shared / "team.gguf")
    finally:
        window.close()
        window.shutdown()


def test_a_missing_default_model_is_explained_not_fatal(qtbot, paths):
    from fireside.ui.shell.main_window import MainWindow

    _policy({"default_model": "gpt-oss-20b-mxfp4.gguf"})
    engine = ScriptedEngine()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths, auto_load_last=True)
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: not window.error_banner.isHidden(), timeout=5000)
        assert "No model called 'gpt-oss-20b-mxfp4.gguf'" in window.error_banner.text_label.text()
        assert window.model_info is None and engine.loads == []
        assert window.stack.currentWidget() is window.welcome  # still usable: open or download one
    finally:
        window.close()
        window.shutdown()
