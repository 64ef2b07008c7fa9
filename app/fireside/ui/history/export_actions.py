"""Export chats to Markdown or JSON, and import JSON, from the window.

The file format is the one `fireside conversations export` writes (core/history/export.py), so a
chat exported from the window imports in the terminal and back. The actions live in the Chat
menu (found through the New Chat action, so menus.py needs no change) and in the sidebar's
right-click menu. Failures are shown in the window's banner in words, never as a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from fireside.core.history.store import StoreError
from fireside.core.history.export import (
    dumps,
    export_json,
    export_markdown_many,
    import_json,
    read_export_file,
)

from fireside.ui.history.history import HistoryController

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow

MARKDOWN_FILTER = "Markdown, for reading (*.md)"
JSON_FILTER = "Fireside JSON, for importing later (*.json)"


def _file_name(title: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title).strip()[:50].strip() or "Fireside chat"
    return stem


def export_chats(window: MainWindow, history: HistoryController, ids: list[int] | None) -> Path | None:
    """Ask where to save `ids` (None: every chat) and in which format; returns the file written."""
    if ids is not None and len(ids) == 1:
        name = _file_name(history.store.conversation(ids[0]).title)
    else:
        name = "Fireside chats"
    start = str(Path.home() / f"{name}.md")
    path_text, chosen = QFileDialog.getSaveFileName(
        window, "Export chat" if ids and len(ids) == 1 else "Export chats", start,
        f"{MARKDOWN_FILTER};;{JSON_FILTER}")
    if not path_text:
        return None
    path = Path(path_text)
    as_json = chosen == JSON_FILTER or path.suffix.lower() == ".json"
    if as_json and path.suffix.lower() != ".json":
        path = path.with_suffix(".json")
    elif not as_json and not path.suffix:
        path = path.with_suffix(".md")
    try:
        text = dumps(export_json(history.store, ids)) if as_json else export_markdown_many(history.store, ids)
        path.write_text(text, encoding="utf-8")
    except (OSError, StoreError) as exc:
        window.error_banner.show_message("Export failed", f"Could not write {path}: {exc}")
        return None
    window.notice_banner.show_message("Exported", f"Saved to {path}")
    return path


def import_chats(window: MainWindow, history: HistoryController) -> list[int]:
    """Ask for a Fireside JSON export and add its chats; opens the first one imported."""
    path_text, _ = QFileDialog.getOpenFileName(window, "Import chats", str(Path.home()), JSON_FILTER)
    if not path_text:
        return []
    path = Path(path_text)
    try:
        data = read_export_file(path.read_text(encoding="utf-8"), path.name)
        ids = import_json(history.store, data)
    except (OSError, UnicodeDecodeError) as exc:
        window.error_banner.show_message("Import failed", f"Could not read {path}: {exc}")
        return []
    except StoreError as exc:  # BadExportFile included: the message names the problem
        window.error_banner.show_message("Import failed", str(exc))
        return []
    history.conversationsChanged.emit()
    if ids and not window.is_generating:
        history.open(ids[0])
    count = len(ids)
    window.notice_banner.show_message("Imported", f"Added {count} chat{'s' * (count != 1)} from {path.name}.")
    return ids


def install_export_actions(window: MainWindow, history: HistoryController) -> list[QAction]:
    """Add Export this chat / Export all chats / Import chats to the Chat menu."""
    menus = [o for o in window.actions_.new_chat.associatedObjects() if isinstance(o, QMenu)]
    this_chat = QAction("&Export This Chat…", window)
    this_chat.triggered.connect(
        lambda _=False: export_chats(window, history, [history.current_id]) if history.current_id else None)
    all_chats = QAction("Export &All Chats…", window)
    all_chats.triggered.connect(lambda _=False: export_chats(window, history, None))
    importing = QAction("&Import Chats…", window)
    importing.triggered.connect(lambda _=False: import_chats(window, history))
    actions = [this_chat, all_chats, importing]
    for action in actions:
        action.setObjectName(re.sub(r"\W", "", action.text()))
    if menus:
        menus[0].addSeparator()
        menus[0].addActions(actions)
    history.currentChanged.connect(lambda cid: this_chat.setEnabled(bool(cid)))
    this_chat.setEnabled(bool(history.current_id))
    return actions
