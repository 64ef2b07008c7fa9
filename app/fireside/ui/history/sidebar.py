"""The conversation sidebar: the list of chats, search, rename, pin, and delete with undo.

It works on a HistoryController only; the window puts it in a dock and wires it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.history.search import search
from fireside.core.history.store import StoreError
from fireside.ui.history.history import HistoryController

_ID = Qt.ItemDataRole.UserRole
_MESSAGE = Qt.ItemDataRole.UserRole + 1
_PINNED = Qt.ItemDataRole.UserRole + 2
PIN = "★ "  # drawn by every UI font, unlike the pushpin emoji
API = "API · "  # a conversation a client started through the local API server
API_TIP = "Started by a program through Fireside's local API server (responses it asked to store)."
UNDO_SECONDS = 10


class Sidebar(QWidget):
    newChatRequested = Signal()
    hitOpened = Signal(int)  # message id of the search hit just opened
    exportRequested = Signal(int)  # conversation id

    def __init__(self, history: HistoryController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self._undo: dict[str, object] | None = None
        self.new_button = QPushButton("New chat")
        self.new_button.setAccessibleName("Start a new chat")
        self.new_button.clicked.connect(self.newChatRequested.emit)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search chats (Ctrl+K)")
        self.search_box.setAccessibleName("Search your chats")
        self.search_box.setClearButtonEnabled(True)
        for button in self.search_box.findChildren(QToolButton):  # Qt's clear button is unnamed
            button.setAccessibleName("Clear the search")
            button.setToolTip("Clear the search")
        self.search_box.textChanged.connect(self.refresh)
        self.reasoning_box = QCheckBox("Include reasoning")
        self.reasoning_box.setAccessibleName("Also search the model's reasoning")
        self.reasoning_box.toggled.connect(self.refresh)
        self.result_label = QLabel()  # "2 chats match", shown only while searching
        self.result_label.setObjectName("searchResults")
        self.result_label.setAccessibleName("Search results")
        self.result_label.hide()
        self.list = QListWidget()
        self.list.setSpacing(3)  # search hits are two lines each; keep them apart
        self.list.setAccessibleName("Your chats")
        self.list.setWordWrap(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemActivated.connect(self._open_item)
        self.list.itemClicked.connect(self._open_item)
        self.undo_label = QLabel()
        self.undo_label.setWordWrap(True)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setAccessibleName("Undo deleting the chat")
        self.undo_button.clicked.connect(self.undo_delete)
        self._undo_timer = QTimer(self, singleShot=True, interval=UNDO_SECONDS * 1000)
        self._undo_timer.timeout.connect(self._forget_undo)
        undo_row = QHBoxLayout()
        undo_row.addWidget(self.undo_label, 1)
        undo_row.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        for w in (self.new_button, self.search_box, self.reasoning_box, self.result_label, self.list):
            layout.addWidget(w)
        layout.addLayout(undo_row)
        self._forget_undo()
        history.conversationsChanged.connect(self.refresh)
        history.conversationTouched.connect(self._move_to_top)
        history.currentChanged.connect(lambda _cid: self._mark_current())
        self.refresh()

    # Showing the list

    def refresh(self) -> None:
        query = self.search_box.text().strip()
        self.list.clear()
        self.result_label.hide()
        try:
            if query:
                self._fill_hits(query)
            else:
                self._fill_conversations()
        except StoreError as exc:
            self.history.failed.emit(str(exc))
        self._mark_current()

    def _fill_conversations(self) -> None:
        for conv in self.history.store.conversations():
            title = conv.title or "New chat"
            from_api = conv.source == "api"
            item = QListWidgetItem((PIN if conv.pinned else "") + (API if from_api else "") + title)
            item.setData(_ID, conv.id)
            item.setData(_PINNED, conv.pinned)
            item.setToolTip(f"{title}\n{API_TIP}" if from_api else title)
            self.list.addItem(item)

    def _move_to_top(self, conversation_id: int) -> None:
        """A chat got a new message: put it first among the pinned or the other chats, as the
        store orders them, without asking the store (a new chat shows as "New chat" until the
        refresh that follows the reply brings its title). Search results stay as they are."""
        if self.search_box.text().strip():
            return
        rows = [r for r in range(self.list.count()) if self.list.item(r).data(_ID) == conversation_id]
        if rows:
            item = self.list.takeItem(rows[0])
        else:
            item = QListWidgetItem("New chat")
            item.setData(_ID, conversation_id)
            item.setData(_PINNED, False)
            item.setToolTip("New chat")
        target = 0
        if not item.data(_PINNED):
            while target < self.list.count() and self.list.item(target).data(_PINNED):
                target += 1
        self.list.insertItem(target, item)
        self._mark_current()

    def _fill_hits(self, query: str) -> None:
        hits = search(self.history.store, query, include_reasoning=self.reasoning_box.isChecked())
        if not hits:
            item = QListWidgetItem("No chats match your search.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        # One row per chat: its title, and the best-ranked message that matched, if any.
        items: dict[int, QListWidgetItem] = {}
        for hit in hits:
            existing = items.get(hit.conversation_id)
            if existing is not None:
                item = existing
            else:
                item = items[hit.conversation_id] = QListWidgetItem(hit.title or "New chat")
                item.setData(_ID, hit.conversation_id)
                item.setData(_MESSAGE, 0)
                self.list.addItem(item)
            if hit.message_id is not None and not item.data(_MESSAGE):
                where = " (in the reasoning)" if hit.field == "reasoning" else ""
                item.setText(f"{item.text()}{where}\n“{' '.join(hit.snippet.split())}”")
                item.setData(_MESSAGE, hit.message_id)
            item.setToolTip(item.text())
        found = len(items)  # none: the list itself says so
        self.result_label.setText(f"{found} chat{'s' * (found != 1)} match{'es' * (found == 1)}")
        self.result_label.setVisible(found > 0)

    def _mark_current(self) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_ID) == self.history.current_id and not self.search_box.text().strip():
                self.list.setCurrentItem(item)
                return
        self.list.clearSelection()

    def _open_item(self, item: QListWidgetItem) -> None:
        cid = item.data(_ID)
        if self.history.busy:  # a reply is still being written here; stay until it is done
            self._mark_current()
            return
        if cid and (cid != self.history.current_id or item.data(_MESSAGE)):
            self.history.open(int(cid))
        if item.data(_MESSAGE):
            self.hitOpened.emit(int(item.data(_MESSAGE)))

    def search_words(self) -> list[str]:
        """The words searched for, to highlight in the message a hit opens."""
        return [w.strip('"*') for w in self.search_box.text().split() if w.strip('"*')]

    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    # Rename, pin, delete

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        cid = item.data(_ID) if item else None
        if not cid:
            return
        conv = self.history.store.conversation(int(cid))
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename(conv.id))
        menu.addAction("Unpin" if conv.pinned else "Pin to top",
                       lambda: self.history.set_pinned(conv.id, not conv.pinned))
        menu.addAction("Export…", lambda: self.exportRequested.emit(conv.id))
        menu.addAction("Delete", lambda: self.delete(conv.id))
        menu.exec(self.list.mapToGlobal(pos))

    def rename(self, conversation_id: int) -> None:
        current = self.history.store.conversation(conversation_id).title
        title, ok = QInputDialog.getText(self, "Rename chat", "New name for this chat:", text=current)
        if ok:
            self.history.rename(conversation_id, title)

    def delete(self, conversation_id: int) -> None:
        title = self.history.store.conversation(conversation_id).title or "New chat"
        snapshot = self.history.delete(conversation_id)
        if snapshot is None:
            return
        self._undo = snapshot
        self.undo_label.setText(f"Deleted “{title}”.")
        self.undo_label.show()
        self.undo_button.show()
        self._undo_timer.start()

    def undo_delete(self) -> int:
        if self._undo is None:
            return 0
        snapshot, self._undo = self._undo, None
        self._forget_undo()
        return self.history.undo_delete(snapshot)

    def _forget_undo(self) -> None:
        self._undo = None
        self.undo_label.hide()
        self.undo_button.hide()
