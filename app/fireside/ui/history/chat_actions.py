"""Chat menu additions that belong to saved chats: the open chat's system prompt, presets to
start a new chat from, Ctrl+Shift+C to copy the last answer, and the context-use meter.

Installed by sidebar.install_history; the Chat menu is found through the New Chat action, so
menus.py needs no change for any of this.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

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

from fireside.core.chat.conversation import Effort, Sampling
from fireside.core.history.presets import Preset, clean_name, load_presets, save_preset

from fireside.ui.chat.context_meter import ContextMeter, tokens_in_use
from fireside.ui.history.history import HistoryController

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow


def install_context_meter(window: MainWindow, history: HistoryController) -> ContextMeter:
    """Status-bar figure of context use, refreshed after each reply and on opening a chat."""
    meter = ContextMeter()
    window.statusBar().addPermanentWidget(meter)
    window.context_meter = meter  # type: ignore[attr-defined]

    def refresh(*_: object) -> None:
        info = window.model_info
        meter.set_total(info.n_ctx if info else 0)
        row = window.chat_model.latest_assistant_row()
        meter.set_used(tokens_in_use(window.chat_model.item(row).stats) if row >= 0 else 0)

    window.modelLoaded.connect(refresh)
    window.replyFinished.connect(refresh)
    history.currentChanged.connect(refresh)
    return meter


def install_chat_actions(window: MainWindow, history: HistoryController) -> None:
    """Chat menu: the open chat's system prompt; and Ctrl+Shift+C to copy the last answer."""
    menus = [o for o in window.actions_.new_chat.associatedObjects() if isinstance(o, QMenu)]
    prompt_action = QAction("System &Prompt for This Chat…", window)
    prompt_action.setObjectName("SystemPromptForThisChat")

    def edit_prompt() -> None:
        text, ok = QInputDialog.getMultiLineText(
            window, "System prompt",
            "Instructions the model follows in this chat (new chats start from your default):",
            history.system_prompt())
        if ok:
            history.set_system_prompt(text)

    prompt_action.triggered.connect(lambda _=False: edit_prompt())
    history.currentChanged.connect(lambda cid: prompt_action.setEnabled(bool(cid)))
    prompt_action.setEnabled(bool(history.current_id))
    copy_action = QAction("&Copy Last Answer", window)
    copy_action.setObjectName("CopyLastAnswer")
    copy_action.setShortcut(QKeySequence("Ctrl+Shift+C"))

    def copy_last() -> None:
        row = window.chat_model.latest_assistant_row()
        if row >= 0 and window.chat_model.item(row).text:
            QGuiApplication.clipboard().setText(window.chat_model.item(row).text)

    copy_action.triggered.connect(lambda _=False: copy_last())
    window.addAction(copy_action)
    presets_menu = QMenu("New Chat from &Preset", window)
    presets_menu.setObjectName("NewChatFromPreset")
    presets_menu.aboutToShow.connect(partial(_fill_presets, window, history, presets_menu))
    save_action = QAction("&Save Chat Settings as Preset…", window)
    save_action.setObjectName("SavePreset")
    save_action.triggered.connect(lambda _=False: save_current_as_preset(window, history))
    if menus:
        menus[0].addSeparator()
        menus[0].addMenu(presets_menu)
        menus[0].addActions([save_action, prompt_action, copy_action])
    window.chat_actions = [prompt_action, copy_action, save_action]  # type: ignore[attr-defined]
    window.presets_menu = presets_menu  # type: ignore[attr-defined]


def _fill_presets(window: MainWindow, history: HistoryController, menu: QMenu) -> None:
    menu.clear()
    presets = load_presets(history.store)
    if not presets:
        menu.addAction("No presets yet: use “Save Chat Settings as Preset…”").setEnabled(False)
    for preset in presets:
        action = menu.addAction(preset.name)
        action.setToolTip(preset.system_prompt or "No system prompt")
        action.triggered.connect(partial(start_from_preset, window, history, preset))


def start_from_preset(window: MainWindow, history: HistoryController, preset: Preset,
                      _checked: bool = False) -> bool:
    """A new chat with the preset's system prompt and effort (refused while a reply streams)."""
    if window.is_generating:
        return False
    window.new_chat()
    history.set_system_prompt(preset.system_prompt)
    window.composer.set_effort(Effort.parse(preset.effort))
    info = window.model_info
    window.set_chat_sampling(preset.sampling(info.is_harmony if info else True))
    return True


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


def save_current_as_preset(window: MainWindow, history: HistoryController) -> Preset | None:
    """Save the open chat's system prompt and the chosen effort, plus the sampling picked in the
    dialog (the model's recommended settings unless the user turns them off)."""
    info = window.model_info
    dialog = PresetDialog(window, Sampling.for_model(info.is_harmony if info else True))
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        preset = dialog.preset(history.system_prompt(), window.composer.effort().value)
    except ValueError as exc:
        window.error_banner.show_message("Preset not saved", str(exc))
        return None
    finally:
        dialog.deleteLater()
    try:
        save_preset(history.store, preset)
    except ValueError as exc:
        window.error_banner.show_message("Preset not saved", str(exc))
        return None
    window.notice_banner.show_message("Preset saved",
                                      f"“{preset.name}” is in Chat ▸ New Chat from Preset.")
    return preset
