"""Export chats to Markdown or JSON, and import JSON, from the window.

The file format is the one `fireside conversations export` writes (core/history/export.py), so a
chat exported from the window imports in the terminal and back. The actions live in the Chat
menu (which the window hands over) and in the sidebar's right-click menu. Failures are shown in
the window's banner in words, never as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from fireside.core.history.export import (
    dumps,
    export_json,
    export_markdown_many,
    import_json,
    read_export_file,
)
from fireside.core.history.store import StoreError
from fireside.ui.history.history import HistoryController
from fireside.ui.shell.notifier import Notifier

MARKDOWN_FILTER = "Markdown, for reading (*.md)"
JSON_FILTER = "Fireside JSON, for importing later (*.json)"


def _file_name(title: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title).strip()[:50].strip() or "Fireside chat"
    return stem


class ExportActions(QObject):
    """Export this chat / Export all chats / Import chats, in the Chat menu the window hands over."""

    def __init__(self, parent: QWidget, history: HistoryController, notifier: Notifier, menu: QMenu,
                 is_generating: Callable[[], bool]) -> None:
        super().__init__(parent)
        self._parent = parent
        self._history = history
        self._notifier = notifier
        self._is_generating = is_generating
        self.this_chat = QAction("&Export This Chat…", parent)
        self.this_chat.triggered.connect(
            lambda _=False: self.export_chats([history.current_id]) if history.current_id else None)
        self.all_chats = QAction("Export &All Chats…", parent)
        self.all_chats.triggered.connect(lambda _=False: self.export_chats(None))
        self.importing = QAction("&Import Chats…", parent)
        self.importing.triggered.connect(lambda _=False: self.import_chats())
        self.actions = [self.this_chat, self.all_chats, self.importing]
        for action in self.actions:
            action.setObjectName(re.sub(r"\W", "", action.text()))
        menu.addSeparator()
        menu.addActions(self.actions)
        history.currentChanged.connect(lambda cid: self.this_chat.setEnabled(bool(cid)))
        self.this_chat.setEnabled(bool(history.current_id))

    def export_chats(self, ids: list[int] | None) -> Path | None:
        """Ask where to save `ids` (None: every chat) and in which format; returns the file written."""
        store = self._history.store
        name = _file_name(store.conversation(ids[0]).title) if ids and len(ids) == 1 else "Fireside chats"
        start = str(Path.home() / f"{name}.md")
        path_text, chosen = QFileDialog.getSaveFileName(
            self._parent, "Export chat" if ids and len(ids) == 1 else "Export chats", start,
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
            text = dumps(export_json(store, ids)) if as_json else export_markdown_many(store, ids)
            path.write_text(text, encoding="utf-8")
        except (OSError, StoreError) as exc:
            self._notifier.error("Export failed", f"Could not write {path}: {exc}")
            return None
        self._notifier.notice("Exported", f"Saved to {path}")
        return path

    def import_chats(self) -> list[int]:
        """Ask for a Fireside JSON export and add its chats; opens the first one imported."""
        path_text, _ = QFileDialog.getOpenFileName(self._parent, "Import chats", str(Path.home()),
                                                   JSON_FILTER)
        if not path_text:
            return []
        path = Path(path_text)
        try:
            data = read_export_file(path.read_text(encoding="utf-8"), path.name)
            ids = import_json(self._history.store, data)
        except (OSError, UnicodeDecodeError) as exc:
            self._notifier.error("Import failed", f"Could not read {path}: {exc}")
            return []
        except StoreError as exc:  # BadExportFile included: the message names the problem
            self._notifier.error("Import failed", str(exc))
            return []
        self._history.conversationsChanged.emit()
        if ids and not self._is_generating():
            self._history.open(ids[0])
        count = len(ids)
        self._notifier.notice("Imported", f"Added {count} chat{'s' * (count != 1)} from {path.name}.")
        return ids
