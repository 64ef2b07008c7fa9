"""The menu bar and its shortcuts, kept apart so main_window.py reads as wiring, not boilerplate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from fireside.ui import wording

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow


@dataclass(frozen=True)
class WindowActions:
    """The menu bar's actions, and its menus, for the parts that add their own items."""

    open: QAction
    recent: QMenu
    quit: QAction
    new_chat: QAction
    stop: QAction
    panel: QAction
    about: QAction
    models: QAction
    load_settings: QAction
    file_menu: QMenu
    chat_menu: QMenu
    view_menu: QMenu
    tools: QAction


def build_menus(window: MainWindow) -> WindowActions:
    bar = window.menuBar()

    file_menu = bar.addMenu(wording.MENU_FILE)
    open_action = window.make_action(wording.ACTION_OPEN, window.choose_model_file)
    open_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Open))
    file_menu.addAction(open_action)
    recent = file_menu.addMenu(wording.ACTION_RECENT)
    recent.aboutToShow.connect(partial(_fill_recent, window, recent))
    models_action = window.make_action("&Models…", partial(_open_models, window))
    models_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
    models_action.setToolTip("Find, download and import models (Ctrl+Shift+M)")
    file_menu.addAction(models_action)
    remotes_action = window.make_action("&Remote Models…", partial(_open_remotes, window))
    remotes_action.setToolTip("Connections to models that run on a server (OpenAI API)")
    remotes_action.setMenuRole(QAction.MenuRole.NoRole)
    file_menu.addAction(remotes_action)
    remote_menu = file_menu.addMenu("Use a Remote &Model")
    remote_menu.setToolTip("Models that run on a server, not on this computer")
    remote_menu.aboutToShow.connect(partial(_fill_remote, window, remote_menu))
    load_settings = window.make_action("&Advanced load settings…", partial(_open_load_settings, window))
    load_settings.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
    load_settings.setMenuRole(QAction.MenuRole.PreferencesRole)
    file_menu.addAction(load_settings)
    toolbar = window.addToolBar("Models")
    toolbar.setObjectName("modelsToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    toolbar.addAction(models_action)
    load_settings.setIconText("Load settings")
    load_settings.setToolTip("What Fireside chose for the model, and your overrides")
    toolbar.addAction(load_settings)
    file_menu.addSeparator()
    quit_action = window.make_action(wording.ACTION_QUIT, window.close)
    quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
    quit_action.setMenuRole(QAction.MenuRole.QuitRole)
    file_menu.addAction(quit_action)

    chat_menu = bar.addMenu(wording.MENU_CHAT)
    new_chat = window.make_action(wording.ACTION_NEW_CHAT, window.new_chat)
    new_chat.setShortcut(QKeySequence(QKeySequence.StandardKey.New))
    chat_menu.addAction(new_chat)
    stop = window.make_action(wording.ACTION_STOP, window.stop_generation)
    stop.setShortcut(QKeySequence(Qt.Key.Key_Escape))
    stop.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    chat_menu.addAction(stop)
    tools = window.make_action(wording.ACTION_TOOLS, partial(_open_tools, window))
    tools.setToolTip(wording.ACTION_TOOLS_TIP)
    tools.setMenuRole(QAction.MenuRole.NoRole)
    chat_menu.addAction(tools)

    view_menu = bar.addMenu(wording.MENU_VIEW)
    panel = window.reasoning_panel.toggleViewAction()
    panel.setText(wording.ACTION_PANEL)
    panel.setShortcut(QKeySequence("Ctrl+Shift+R"))
    view_menu.addAction(panel)

    help_menu = bar.addMenu(wording.MENU_HELP)
    about = window.make_action(wording.ACTION_ABOUT, window.show_about)
    about.setMenuRole(QAction.MenuRole.AboutRole)
    help_menu.addAction(about)

    return WindowActions(open_action, recent, quit_action, new_chat, stop, panel, about, models_action,
                         load_settings, file_menu, chat_menu, view_menu, tools)


def _fill_recent(window: MainWindow, menu: QMenu) -> None:
    menu.clear()
    paths = window.recent_models()
    if not paths:
        menu.addAction(wording.NO_RECENT).setEnabled(False)
        return
    for path in paths:
        action = menu.addAction(Path(path).name)
        action.setToolTip(path)
        action.triggered.connect(partial(_load_recent, window, path))


def _open_models(window: MainWindow) -> None:
    from fireside.ui.models.model_manager import open_model_manager

    actions = window.chat_actions  # none without a saved history
    open_model_manager(window, window.paths, window.settings_controller, window.load_model,
                       actions.use_adapter if actions is not None else None)


def _fill_remote(window: MainWindow, menu: QMenu) -> None:
    """The saved connections, apart from the models on this computer (Open, Open Recent)."""
    from fireside.core.engine.protocol import EngineError
    from fireside.core.engine.remotes import Remotes, refusal
    from fireside.ui.remotes.target import RemoteTarget

    menu.clear()
    try:
        connections = Remotes(window.paths.config).all()
    except EngineError as e:
        menu.addAction(str(e)).setEnabled(False)
        return
    if not connections:
        menu.addAction("No remote connections yet").setEnabled(False)
    for c in connections:
        action = menu.addAction(f"{c.model or 'default model'} on {c.name}")
        why = refusal(c.base_url, window.paths, window.policy)
        action.setToolTip(why or c.base_url)
        action.setEnabled(not why)
        action.triggered.connect(partial(_use_remote, window, RemoteTarget(c.name, c.model)))
    menu.addSeparator()
    menu.addAction(window.make_action("Manage…", partial(_open_remotes, window)))


def _use_remote(window: MainWindow, target: object, _checked: bool = False) -> None:
    from fireside.ui.remotes.target import RemoteTarget

    if isinstance(target, RemoteTarget):
        window.load_remote(target)


def _open_remotes(window: MainWindow) -> None:
    from fireside.ui.remotes.remotes_dialog import open_remotes_dialog

    open_remotes_dialog(window, window.paths, window.policy, window.load_remote)


def _open_tools(window: MainWindow) -> None:
    from fireside.ui.tools.tools_dialog import open_tools_dialog

    open_tools_dialog(window, window.paths, window.policy)


def _open_load_settings(window: MainWindow) -> None:
    from fireside.ui.models.load_settings import open_load_settings

    open_load_settings(window, window.settings_controller, window.model_info)


def _load_recent(window: MainWindow, path: str, _checked: bool = False) -> None:
    window.load_model(path)
