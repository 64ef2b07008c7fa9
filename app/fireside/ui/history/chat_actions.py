"""Chat menu additions that belong to saved chats: the open chat's system prompt, presets to
start a new chat from, and Ctrl+Shift+C to copy the last answer. The window builds them and hands
over the Chat menu to add to."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy
from fireside.core.chat.conversation import AdapterUse, Effort, Sampling
from fireside.core.config.paths import Paths
from fireside.core.engine.protocol import ModelInfo
from fireside.core.history.presets import Preset, clean_name, load_presets, save_preset
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.chat.composer import Composer
from fireside.ui.history.adapter_check import AdapterCheck
from fireside.ui.history.history import HistoryController
from fireside.ui.shell.notifier import Notifier


class ChatHost(Protocol):
    """What the chat actions need from the window that hosts the chat."""

    @property
    def is_generating(self) -> bool: ...

    @property
    def model_info(self) -> ModelInfo | None: ...

    def new_chat(self) -> None: ...

    def set_chat_sampling(self, sampling: Sampling | None) -> None: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def paths(self) -> Paths: ...


class ChatActions(QObject):
    """Chat menu: the open chat's system prompt, presets to start a new chat from or save, and
    Ctrl+Shift+C to copy the last answer. The window builds it with what it needs."""

    def __init__(self, parent: QWidget, host: ChatHost, history: HistoryController,
                 chat_model: ChatModel, composer: Composer, notifier: Notifier, menu: QMenu) -> None:
        super().__init__(parent)
        self._parent = parent
        self._host = host
        self._history = history
        self._chat_model = chat_model
        self._composer = composer
        self._notifier = notifier
        # a preset's adapters are checked against allowed_adapters (maybe hashing) off this thread
        self.adapter_check = AdapterCheck(self)
        self.adapter_check.checked.connect(self._on_adapters_checked)
        self.prompt_action = QAction("System &Prompt for This Chat…", parent)
        self.prompt_action.setObjectName("SystemPromptForThisChat")
        self.prompt_action.triggered.connect(lambda _=False: self.edit_prompt())
        history.currentChanged.connect(lambda cid: self.prompt_action.setEnabled(bool(cid)))
        self.prompt_action.setEnabled(bool(history.current_id))
        self.copy_action = QAction("&Copy Last Answer", parent)
        self.copy_action.setObjectName("CopyLastAnswer")
        self.copy_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_action.triggered.connect(lambda _=False: self.copy_last())
        self.presets_menu = QMenu("New Chat from &Preset", parent)
        self.presets_menu.setObjectName("NewChatFromPreset")
        self.presets_menu.aboutToShow.connect(self._fill_presets)
        self.save_action = QAction("&Save Chat Settings as Preset…", parent)
        self.save_action.setObjectName("SavePreset")
        self.save_action.triggered.connect(lambda _=False: self.save_current_as_preset())
        menu.addSeparator()
        menu.addMenu(self.presets_menu)
        menu.addActions([self.save_action, self.prompt_action, self.copy_action])
        parent.addAction(self.copy_action)  # the shortcut works wherever the focus is
        self.actions = [self.prompt_action, self.copy_action, self.save_action]

    def edit_prompt(self) -> None:
        text, ok = QInputDialog.getMultiLineText(
            self._menu_parent(), "System prompt",
            "Instructions the model follows in this chat (new chats start from your default):",
            self._history.system_prompt())
        if ok:
            self._history.set_system_prompt(text)

    def copy_last(self) -> None:
        row = self._chat_model.latest_assistant_row()
        if row >= 0 and self._chat_model.item(row).text:
            QGuiApplication.clipboard().setText(self._chat_model.item(row).text)

    def _fill_presets(self) -> None:
        menu = self.presets_menu
        menu.clear()
        presets = load_presets(self._history.store)
        if not presets:
            menu.addAction("No presets yet: use “Save Chat Settings as Preset…”").setEnabled(False)
        for preset in presets:
            action = menu.addAction(preset.name)
            action.setToolTip(preset.system_prompt or "No system prompt")
            action.triggered.connect(partial(self.start_from_preset, preset))

    def start_from_preset(self, preset: Preset, _checked: bool = False) -> bool:
        """A new chat with the preset's system prompt, effort, sampling and LoRA adapters
        (refused while a reply streams)."""
        if self._host.is_generating:
            return False
        self._host.new_chat()
        self._history.set_system_prompt(preset.system_prompt)
        self._composer.set_effort(Effort.parse(preset.effort))
        info = self._host.model_info
        self._host.set_chat_sampling(preset.sampling(info.is_harmony if info else True))
        uses = preset.adapter_uses()
        if uses and self._host.policy.get("allowed_adapters") is not None:
            self._composer.set_adapters_checking(uses)  # sending waits for the answer
        self.adapter_check.check(uses, self._host.policy, self._host.paths.cache)
        return True

    def use_adapter(self, path: str, scale: float = 1.0) -> None:
        """Add an installed adapter to the open chat's next replies (Models ▸ LoRA adapters ▸
        Use in this chat), checked against allowed_adapters like a preset's."""
        uses = tuple(u for u in self._composer.adapters() if u.path != path)
        uses += (AdapterUse(path, scale),)
        if self._host.policy.get("allowed_adapters") is not None:
            self._composer.set_adapters_checking(uses)
        self.adapter_check.check(uses, self._host.policy, self._host.paths.cache)

    def _on_adapters_checked(self, allowed: tuple[AdapterUse, ...], refusals: list[str]) -> None:
        """The preset's adapters that the organisation's allowed_adapters lets apply; a refused
        one is left out, and said so. (A pinned adapter is hashed once, then remembered.)"""
        for refusal in refusals:
            self._notifier.error("Adapter not applied", refusal)
        self._composer.set_adapters(allowed)

    def shutdown(self) -> None:
        """Wait for an adapter check under way (the window calls this before it closes)."""
        self.adapter_check.shutdown()

    def save_current_as_preset(self) -> Preset | None:
        """Save the open chat's system prompt and the chosen effort, plus the sampling picked in
        the dialog (the model's recommended settings unless the user turns them off)."""
        info = self._host.model_info
        dialog = PresetDialog(self._menu_parent(), Sampling.for_model(info.is_harmony if info else True))
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            preset = dialog.preset(self._history.system_prompt(), self._composer.effort().value)
            preset = replace(preset, adapters=tuple((a.path, a.scale) for a in self._composer.adapters()))
        except ValueError as exc:
            self._notifier.error("Preset not saved", str(exc))
            return None
        finally:
            dialog.deleteLater()
        try:
            save_preset(self._history.store, preset)
        except ValueError as exc:
            self._notifier.error("Preset not saved", str(exc))
            return None
        self._notifier.notice("Preset saved", f"“{preset.name}” is in Chat ▸ New Chat from Preset.")
        return preset

    def _menu_parent(self) -> QWidget:
        return self._parent


class PresetDialog(QDialog):
    """Asks for a preset's name and, optionally, its own sampling settings."""

    def __init__(self, parent: QWidget | None = None, sampling: Sampling | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save preset")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("For example: Translator")
        form.addRow("Name for this preset:", self.name_edit)
        layout.addLayout(form)
        note = QLabel("The preset keeps this chat's system prompt and reasoning effort.")
        note.setWordWrap(True)
        layout.addWidget(note)

        box = QGroupBox("Sampling")
        box_layout = QVBoxLayout(box)
        self.model_defaults_check = QCheckBox("Use the model's recommended settings")
        self.model_defaults_check.setToolTip(
            "Leave this on unless you know you want something different: each model works best "
            "with the settings its makers suggest.")
        self.model_defaults_check.setChecked(True)
        box_layout.addWidget(self.model_defaults_check)
        sampling_form = QFormLayout()
        base = sampling or Sampling()
        self.temperature_spin = _double_spin(0.0, 2.0, 0.05, base.temperature,
            "How adventurous the wording is. Lower gives steadier, more predictable answers; "
            "higher gives more varied, creative ones. 1 is the usual choice for gpt-oss.")
        self.top_p_spin = _double_spin(0.0, 1.0, 0.05, base.top_p,
            "Only consider the most likely words that together make up this share of the "
            "chances. 1 considers them all; lower keeps answers more focused.")
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(0, 1000)
        self.top_k_spin.setValue(base.top_k)
        self.top_k_spin.setSpecialValueText("Off")
        self.top_k_spin.setToolTip(
            "Only consider this many of the most likely next words. Off (0) places no limit.")
        self.min_p_spin = _double_spin(0.0, 1.0, 0.01, base.min_p,
            "Skip words far less likely than the best choice. 0 turns this off; a small value "
            "such as 0.05 trims unlikely words.")
        sampling_form.addRow("Temperature:", self.temperature_spin)
        sampling_form.addRow("Top-p:", self.top_p_spin)
        sampling_form.addRow("Top-k:", self.top_k_spin)
        sampling_form.addRow("Min-p:", self.min_p_spin)
        box_layout.addLayout(sampling_form)
        layout.addWidget(box)
        self.model_defaults_check.toggled.connect(self._sync_enabled)
        self._sync_enabled()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _sync_enabled(self) -> None:
        own = not self.model_defaults_check.isChecked()
        for spin in (self.temperature_spin, self.top_p_spin, self.top_k_spin, self.min_p_spin):
            spin.setEnabled(own)

    def preset(self, system_prompt: str, effort: str) -> Preset:
        """The preset as filled in; ValueError with a sentence when the name is empty."""
        name = clean_name(self.name_edit.text())
        if self.model_defaults_check.isChecked():
            return Preset(name, system_prompt, effort)
        return Preset(name, system_prompt, effort,
                      temperature=self.temperature_spin.value(), top_p=self.top_p_spin.value(),
                      top_k=self.top_k_spin.value(), min_p=self.min_p_spin.value())


def _double_spin(low: float, high: float, step: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
