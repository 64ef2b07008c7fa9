"""Chat menu additions that belong to saved chats: the open chat's system prompt, presets to
start a new chat from, and Ctrl+Shift+C to copy the last answer. The window builds them and hands
over the Chat menu to add to."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication, QKeySequence
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
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy
from fireside.core.chat.conversation import AdapterUse, Effort, Sampling
from fireside.core.config.paths import Paths
from fireside.core.engine.protocol import ModelInfo
from fireside.core.history.presets import (
    Preset,
    clean_json_schema,
    clean_name,
    load_presets,
    save_preset,
)
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
        # the composer shows whether the open chat answers in JSON (a preset's schema)
        history.currentChanged.connect(lambda _cid: composer.set_json_schema(history.json_schema()))
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
            tip = preset.system_prompt or "No system prompt"
            if preset.json_schema:
                tip += "\nAnswers in JSON that follows a schema."
            action.setToolTip(tip)
            action.triggered.connect(partial(self.start_from_preset, preset))

    def start_from_preset(self, preset: Preset, _checked: bool = False) -> bool:
        """A new chat with the preset's system prompt, effort, sampling, LoRA adapters and answer
        schema (refused while a reply streams)."""
        if self._host.is_generating:
            return False
        self._host.new_chat()
        self._history.set_system_prompt(preset.system_prompt)
        self._history.set_json_schema(preset.json_schema)
        self._composer.set_json_schema(preset.schema())
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
        """Save the open chat's system prompt and the chosen effort, plus the sampling and the
        answer schema picked in the dialog (the model's recommended settings and free text unless
        the user changes them; a chat that answers in JSON offers its schema)."""
        info = self._host.model_info
        dialog = PresetDialog(self._menu_parent(), Sampling.for_model(info.is_harmony if info else True),
                              self._composer.json_schema())
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
    """Asks for a preset's name and, optionally, its own sampling settings and a JSON Schema its
    answers follow. Save checks the name and the schema and says what is wrong, in the dialog."""

    def __init__(self, parent: QWidget | None = None, sampling: Sampling | None = None,
                 json_schema: dict[str, Any] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save preset")
        self.setMinimumWidth(480)  # room for an indented schema without scrolling sideways
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

        answer_box = QGroupBox("Answer format")
        answer_layout = QVBoxLayout(answer_box)
        self.json_check = QCheckBox("Answer in JSON that follows a schema")
        self.json_check.setToolTip(
            "The model still thinks in its own words; only its final answer is constrained to "
            "JSON matching this schema, ready for another program to read.")
        self.schema_edit = QPlainTextEdit()
        self.schema_edit.setObjectName("schemaEdit")
        self.schema_edit.setAccessibleName("JSON Schema of the answer")
        self.schema_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.schema_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.schema_edit.setPlaceholderText(SCHEMA_EXAMPLE)
        self.schema_edit.setTabChangesFocus(True)
        self.schema_edit.setMinimumHeight(150)
        self.error_label = QLabel()
        self.error_label.setObjectName("presetError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.hide()
        answer_note = QLabel("The model still reasons in its own words; only its final answer "
                             "is JSON. Paste a JSON Schema, as OpenAI's Structured Outputs take it.")
        answer_note.setWordWrap(True)
        answer_layout.addWidget(self.json_check)
        answer_layout.addWidget(answer_note)
        answer_layout.addWidget(self.schema_edit)
        layout.addWidget(answer_box)
        layout.addWidget(self.error_label)
        if json_schema is not None:
            self.json_check.setChecked(True)
            self.schema_edit.setPlainText(json.dumps(json_schema, indent=2, ensure_ascii=False))
        self.json_check.toggled.connect(self._sync_enabled)
        self.schema_edit.textChanged.connect(self.error_label.hide)
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
        self.schema_edit.setEnabled(self.json_check.isChecked())

    def accept(self) -> None:
        """Save only a preset that can be saved; otherwise say why here and stay open."""
        try:
            clean_name(self.name_edit.text())
        except ValueError as exc:
            self._show_error(str(exc), self.name_edit)
            return
        try:
            self.schema_text()
        except ValueError as exc:
            self._show_error(str(exc), self.schema_edit)
            return
        super().accept()

    def _show_error(self, message: str, widget: QWidget) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        widget.setFocus()

    def schema_text(self) -> str:
        """The answer schema as compact JSON ("" for none); ValueError with a sentence when the
        box is on and empty, or holds something that cannot constrain an answer."""
        if not self.json_check.isChecked():
            return ""
        if not self.schema_edit.toPlainText().strip():
            raise ValueError("Paste the JSON Schema the answers should follow, or turn off "
                             "“Answer in JSON that follows a schema”.")
        return clean_json_schema(self.schema_edit.toPlainText())

    def preset(self, system_prompt: str, effort: str) -> Preset:
        """The preset as filled in; ValueError with a sentence when the name is empty or the
        schema cannot be used."""
        name = clean_name(self.name_edit.text())
        schema = self.schema_text()
        if self.model_defaults_check.isChecked():
            return Preset(name, system_prompt, effort, json_schema=schema)
        return Preset(name, system_prompt, effort,
                      temperature=self.temperature_spin.value(), top_p=self.top_p_spin.value(),
                      top_k=self.top_k_spin.value(), min_p=self.min_p_spin.value(), json_schema=schema)


SCHEMA_EXAMPLE = """For example:
{
  "type": "object",
  "properties": {
    "city": {"type": "string"},
    "sunny": {"type": "boolean"}
  },
  "required": ["city", "sunny"]
}"""


def _double_spin(low: float, high: float, step: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
