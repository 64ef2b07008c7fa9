"""Chat menu additions that belong to saved chats: the open chat's system prompt, presets to
start a new chat from, and Ctrl+Shift+C to copy the last answer. The window builds them and hands
over the Chat menu to add to."""

from __future__ import annotations

from functools import partial
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDialog, QInputDialog, QMenu, QWidget

from fireside.core.admin.model_access import adapter_name_refusal
from fireside.core.admin.policy import Policy
from fireside.core.chat.conversation import AdapterUse, Effort, Sampling
from fireside.core.config.paths import Paths
from fireside.core.engine.protocol import ModelInfo
from fireside.core.history.presets import Preset, load_presets, save_preset
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.chat.composer import Composer
from fireside.ui.history.adapter_check import AdapterCheck
from fireside.ui.history.history import HistoryController
from fireside.ui.history.preset_dialog import PresetDialog
from fireside.ui.shell.notifier import Notifier

__all__ = ["ChatActions", "ChatHost", "PresetDialog"]  # PresetDialog: where callers found it first


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
        Use in this chat), checked against allowed_adapters like a preset's; its scale is then
        changed from the composer's LoRA button."""
        current = self._composer.adapters()
        if any(u.path == path for u in current):
            return  # already applied, at the scale the person chose in the composer
        uses = (*current, AdapterUse(path, scale))
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
        policy = self._host.policy
        dialog = PresetDialog(self._menu_parent(), Sampling.for_model(info.is_harmony if info else True),
                              self._composer.json_schema(), self._composer.adapters(),
                              lambda path: adapter_name_refusal(path, policy))
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            preset = dialog.preset(self._history.system_prompt(), self._composer.effort().value)
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
