"""Chat menu additions that belong to saved chats: the open chat's system prompt, presets to
start a new chat from, Ctrl+Shift+C to copy the last answer, and the context-use meter.

Installed by sidebar.install_history; the Chat menu is found through the New Chat action, so
menus.py needs no change for any of this.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from fireside.core.conversation import Effort
from fireside.core.presets import Preset, clean_name, load_presets, save_preset

from .context_meter import ContextMeter, tokens_in_use
from .history import HistoryController

if TYPE_CHECKING:
    from .main_window import MainWindow


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
    return True


def save_current_as_preset(window: MainWindow, history: HistoryController) -> Preset | None:
    """Save the open chat's system prompt and the chosen effort under a name the user gives."""
    name, ok = QInputDialog.getText(window, "Save preset", "Name for this preset:")
    if not ok:
        return None
    try:
        preset = Preset(clean_name(name), history.system_prompt(), window.composer.effort().value)
        save_preset(history.store, preset)
    except ValueError as exc:
        window.error_banner.show_message("Preset not saved", str(exc))
        return None
    window.notice_banner.show_message("Preset saved",
                                      f"“{preset.name}” is in Chat ▸ New Chat from Preset.")
    return preset
