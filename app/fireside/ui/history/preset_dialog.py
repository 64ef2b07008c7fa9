"""The preset editor (Chat ▸ Save Chat Settings as Preset…): a name, the chat's LoRA adapters with
a scale each, its own sampling if wanted, and a JSON Schema the answers follow. Save checks the
name and the schema and says what is wrong, in the dialog."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fireside.core.chat.conversation import AdapterUse, Sampling
from fireside.core.history.presets import Preset, clean_json_schema, clean_name
from fireside.ui import wording
from fireside.ui.chat.adapter_scales import AdapterScales


class PresetDialog(QDialog):
    """Asks for a preset's name, shows the chat's LoRA adapters with a scale each (Remove drops
    one), and optionally takes its own sampling settings and a JSON Schema its answers follow.
    Save checks the name and the schema and says what is wrong, in the dialog."""

    def __init__(self, parent: QWidget | None = None, sampling: Sampling | None = None,
                 json_schema: dict[str, Any] | None = None, adapters: tuple[AdapterUse, ...] = (),
                 adapter_refusal: Callable[[str], str] | None = None) -> None:
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

        adapters_box = QGroupBox("LoRA adapters")
        adapters_box.setObjectName("presetAdapters")
        adapters_layout = QVBoxLayout(adapters_box)
        self.adapters_note = QLabel(wording.PRESET_ADAPTERS_NOTE if adapters
                                    else wording.PRESET_NO_ADAPTERS)
        self.adapters_note.setWordWrap(True)
        self.adapter_scales = AdapterScales(adapters_box, adapter_refusal)
        self.adapter_scales.set_uses(adapters)
        self.adapter_scales.changed.connect(self._sync_adapters_note)
        adapters_layout.addWidget(self.adapters_note)
        adapters_layout.addWidget(self.adapter_scales)
        layout.addWidget(adapters_box)

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

    def _sync_adapters_note(self) -> None:
        if not self.adapter_scales.spins:  # the last one was removed
            self.adapters_note.setText(wording.PRESET_NO_ADAPTERS)

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
        adapters = tuple((a.path, a.scale) for a in self.adapter_scales.uses())
        if self.model_defaults_check.isChecked():
            return Preset(name, system_prompt, effort, adapters=adapters, json_schema=schema)
        return Preset(name, system_prompt, effort,
                      temperature=self.temperature_spin.value(), top_p=self.top_p_spin.value(),
                      top_k=self.top_k_spin.value(), min_p=self.min_p_spin.value(),
                      adapters=adapters, json_schema=schema)


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
