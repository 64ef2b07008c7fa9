"""LoRA in the window, with the real engine on the tiny gpt-oss: a preset with an adapter, the
composer's indicator, the reply's stats naming the adapter, and the policy leaving one out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from fireside.core.chat.conversation import AdapterUse
from fireside.core.history.presets import Preset, load_presets, save_preset
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.lora import lora_for


def _send(qtbot, window: MainWindow, text: str) -> int:  # type: ignore[no-untyped-def]
    qtbot.keyClicks(window.composer.text_edit, text)
    with qtbot.waitSignal(window.replyFinished, timeout=60_000) as finished:
        qtbot.keyClick(window.composer.text_edit, Qt.Key.Key_Return)
    return int(finished.args[0])


def test_a_preset_with_an_adapter_shows_it_and_the_reply_names_it(
        qtbot, open_real_window, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4, std=0.5)
    window = open_real_window(tiny_gptoss_path, n_ctx=512, max_tokens=8)
    assert window.history is not None
    save_preset(window.history.store, Preset("Legal copilot", "Answer as a lawyer.", "low",
                                             adapters=((str(legal), 0.8),)))
    label = window.composer.adapters_label
    assert not label.isVisible()  # no adapters, no indicator
    menu = window.chat_actions.presets_menu
    menu.aboutToShow.emit()
    [action] = [a for a in menu.actions() if a.text() == "Legal copilot"]
    action.trigger()
    assert label.isVisible() and label.text() == "LoRA legal ×0.8"
    assert str(legal) in label.toolTip()
    row = _send(qtbot, window, "Is this contract fair?")
    item = window.chat_model.item(row)
    assert item.stats is not None and item.stats.adapters == ("legal:0.8",)
    assert not item.error
    footer = window.transcript.widget_at(row).footer_label.text()
    assert footer.endswith("answer tokens · LoRA legal ×0.8")
    # reopened from the history, the reply still names its adapter
    conversation_id = window.history.current_id
    [reply] = [m for m in window.history.store.messages(conversation_id) if m.role == "assistant"]
    assert reply.stats["adapters"] == ["legal:0.8"]
    # saving the chat's settings as a preset keeps the adapters
    window.composer.set_adapters((AdapterUse(str(legal), 0.5),))
    from fireside.ui.history.chat_actions import PresetDialog

    def answer(dialog: PresetDialog) -> int:
        dialog.name_edit.setText("Half legal")
        return PresetDialog.DialogCode.Accepted.value

    monkeypatch.setattr(PresetDialog, "exec", answer)
    window.chat_actions.save_action.trigger()
    saved = {p.name: p for p in load_presets(window.history.store)}
    assert saved["Half legal"].adapters == ((str(legal), 0.5),)
    window.close()


def test_the_policy_leaves_out_an_adapter_it_does_not_allow(
        qtbot, open_real_window, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policy.json").write_text(json.dumps({"allowed_adapters": ["approved.gguf"]}))
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4)
    window = open_real_window(tiny_gptoss_path, n_ctx=512, max_tokens=8)
    assert window.chat_actions is not None
    with qtbot.waitSignal(window.chat_actions.adapter_check.checked, timeout=10_000):
        assert window.chat_actions.start_from_preset(Preset("Legal", adapters=((str(legal), 1.0),)))
    assert window.composer.adapters() == ()
    assert not window.composer.adapters_label.isVisible()
    assert "allowed_adapters" in window.error_banner.text()
    window.close()


def test_a_pinned_adapter_is_hashed_off_the_gui_thread_and_sending_waits_for_it(
        qtbot, open_real_window, tiny_gptoss_path: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import threading

    from fireside.core.admin import model_access

    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=4, std=0.5)
    pin = hashlib.sha256(legal.read_bytes()).hexdigest()
    (tmp_path / "policy.json").write_text(json.dumps(
        {"allowed_adapters": [{"file": "legal.gguf", "sha256": pin}]}))
    window = open_real_window(tiny_gptoss_path, n_ctx=512, max_tokens=8)
    assert window.chat_actions is not None
    hashed_on: list[threading.Thread] = []
    release = threading.Event()
    real_sha = model_access._sha256

    def sha_on_record(path: Path, cache_dir: Path) -> str:
        hashed_on.append(threading.current_thread())
        release.wait(10)  # hold the check so the window can be seen waiting for it
        return real_sha(path, cache_dir)

    monkeypatch.setattr(model_access, "_sha256", sha_on_record)
    with qtbot.waitSignal(window.chat_actions.adapter_check.checked, timeout=10_000) as checked:
        assert window.chat_actions.start_from_preset(Preset("Legal", adapters=((str(legal), 0.8),)))
        # the GUI thread came back at once: the label says it is checking and sending waits
        label = window.composer.adapters_label
        assert label.isVisible() and label.text() == "LoRA legal ×0.8 · checking…"
        qtbot.keyClicks(window.composer.text_edit, "Is this contract fair?")
        assert not window.composer.send_button.isEnabled()
        qtbot.keyClick(window.composer.text_edit, Qt.Key.Key_Return)
        assert not window.is_generating and window.composer.text_edit.toPlainText()
        release.set()
    assert checked.args[1] == []
    assert hashed_on and all(t is not threading.main_thread() for t in hashed_on)
    assert window.composer.adapters() == (AdapterUse(str(legal), 0.8),)
    assert label.text() == "LoRA legal ×0.8" and window.composer.send_button.isEnabled()
    window.close()


@pytest.mark.qt_log_ignore(  # offscreen cannot raise a popup or let it grab the keyboard
    r"This plugin does not support (raise\(\)|grabbing the keyboard)$")
def test_scale_off_from_the_composer_gives_the_base_models_reply(
        qtbot, open_real_window, tiny_gptoss_path: Path, tmp_path: Path) -> None:
    """The whole window path on the real engine: Use in this chat, then the composer's LoRA
    button turned down to Off, gives exactly the reply of the model without the adapter."""
    legal = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=8, std=0.5, seed=1)
    window = open_real_window(tiny_gptoss_path, n_ctx=512, max_tokens=8)
    assert window.chat_actions is not None
    question = "Tell me about the sea."

    def reply() -> tuple[str, tuple[str, ...], str]:
        window.new_chat()
        row = _send(qtbot, window, question)
        item = window.chat_model.item(row)
        assert item.stats is not None and not item.error
        return (item.reasoning + "|" + item.text, item.stats.adapters,
                window.transcript.widget_at(row).footer_label.text())

    base, base_adapters, _ = reply()
    with qtbot.waitSignal(window.chat_actions.adapter_check.checked, timeout=10_000):
        window.chat_actions.use_adapter(str(legal))  # Models ▸ LoRA adapters ▸ Use in this chat
    adapted, adapted_adapters, adapted_footer = reply()
    assert adapted != base  # the adapter moves greedy decoding, so Off below means something
    assert base_adapters == () and adapted_adapters == ("legal:1",)
    assert adapted_footer.endswith("· LoRA legal")

    button = window.composer.adapters_button
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    spin = window.composer.adapter_popup.scales.spins[0]
    for _ in range(2):
        qtbot.keyClick(spin, Qt.Key.Key_PageDown)  # 1 -> 0.5 -> Off
    assert spin.text() == "Off" and button.text() == "LoRA legal off"
    qtbot.keyClick(window.composer.adapter_popup, Qt.Key.Key_Escape)
    off, off_adapters, off_footer = reply()
    assert off == base and off_adapters == () and "LoRA" not in off_footer
    window.close()
