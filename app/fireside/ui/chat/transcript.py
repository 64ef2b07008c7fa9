"""The transcript: one MessageWidget per ChatModel row, in a scroll area that follows the reply.

It listens to the model instead of being told what to draw, and on dataChanged re-renders only
the rows that changed, which while streaming is the one reply being written. It keeps the view
pinned to the bottom only while the user is there, so scrolling up to reread is never yanked away.

Building a MessageWidget (a dozen child widgets, each polished by the window's stylesheet) is the
largest cost of pressing Enter. So the view keeps one spare widget per role, built and polished
while nothing else happens (a second after the last insertion, once no reply is streaming), and a
new row takes its spare: the send shows the question and the reply's bubble without building either.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from fireside.ui import wording
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.chat.message_widget import MessageWidget

_Index = QModelIndex | QPersistentModelIndex
COLUMN_MAX_WIDTH = 860
_BOTTOM_SLACK_PX = 24
# Opening a long chat builds widgets only for the newest rows; older ones are built on request
# ("Show earlier messages", or when something needs that row), so opening stays fast at any length.
INITIAL_ROWS = 80
EARLIER_CHUNK = 100
SPARE_ROLES = ("user", "assistant")  # the two rows every send adds
SPARE_IDLE_MS = 1000  # build spares this long after the last insertion: not while a send settles


class TranscriptView(QScrollArea):
    messageActivated = Signal(int)  # row the user clicked
    branchStepRequested = Signal(int, int)  # row, -1 / +1
    branchActionRequested = Signal(int)  # row: edit it (user) or regenerate it (reply)
    deleteRequested = Signal(int)  # row

    def __init__(self, model: ChatModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self._model = model
        self._widgets: list[MessageWidget | None] = []  # None: an older row not built yet
        self._pending = 0  # rows [0, _pending) are not built
        self._selected = -1
        self._stick_to_bottom = True

        content = QWidget()
        content.setObjectName("transcriptContent")
        row = QHBoxLayout(content)
        row.setContentsMargins(16, 12, 16, 12)
        column = QWidget()
        column.setMaximumWidth(COLUMN_MAX_WIDTH)
        self._column = QVBoxLayout(column)
        self._column.setContentsMargins(0, 0, 0, 0)
        self._column.setSpacing(6)
        self.empty_label = QLabel(wording.EMPTY_CHAT)
        self.empty_label.setObjectName("emptyChat")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self._column.addWidget(self.empty_label, 1)  # then the "earlier" button, messages, stretch
        self.earlier_button = QPushButton()
        self.earlier_button.setObjectName("earlierButton")
        self.earlier_button.setAccessibleName("Show earlier messages")
        self.earlier_button.clicked.connect(lambda: self.build_earlier(EARLIER_CHUNK))
        self.earlier_button.hide()
        self._column.addWidget(self.earlier_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self._column.addStretch(1)
        row.addWidget(column, 1)
        self.setWidget(content)
        self._column_widget = column
        self._spares: dict[str, MessageWidget] = {}
        self._spare_timer = QTimer(self, singleShot=True, interval=SPARE_IDLE_MS)
        self._spare_timer.timeout.connect(self._build_spares_when_quiet)

        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.rowsRemoved.connect(self._rebuild)
        model.modelReset.connect(self._rebuild)
        model.dataChanged.connect(self._on_data_changed)
        self._rebuild()
        self._spare_timer.start()

    # Reading

    def widget_at(self, row: int) -> MessageWidget:
        if 0 <= row < self._pending:
            self.build_earlier(self._pending - row)
        widget = self._widgets[row]
        assert widget is not None
        return widget

    @property
    def unbuilt_rows(self) -> int:
        return self._pending

    def build_earlier(self, count: int) -> None:
        """Build up to `count` more of the older rows, just above the oldest one shown."""
        start = max(0, self._pending - count)
        for row in range(self._pending - 1, start - 1, -1):
            widget = self._make_widget(row)
            self._widgets[row] = widget
            self._column.insertWidget(2, widget)
        self._pending = start
        self._update_earlier_button()

    def _update_earlier_button(self) -> None:
        self.earlier_button.setText(f"Show earlier messages ({self._pending} more)")
        self.earlier_button.setVisible(self._pending > 0)

    def count(self) -> int:
        return len(self._widgets)

    @property
    def selected_row(self) -> int:
        return self._selected

    def set_selected_row(self, row: int) -> None:
        previous = self._widgets[self._selected] if 0 <= self._selected < len(self._widgets) else None
        if previous is not None:
            previous.set_selected(False)
        self._selected = row if 0 <= row < len(self._widgets) else -1
        if self._selected >= 0:
            self.widget_at(self._selected).set_selected(True)

    def reveal(self, row: int, words: list[str]) -> None:
        """Select `row` and scroll it into view, with the first of `words` found in it selected:
        how a search hit is shown."""
        self.set_selected_row(row)
        message = self.widget_at(row)
        found = next((label for w in words if (label := message.highlight(w))), None)
        self.ensureWidgetVisible(found or message)

    def scroll_to_bottom(self) -> None:
        self._stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    # Model signals

    def _on_rows_inserted(self, parent: _Index, first: int, last: int) -> None:
        if first < self._pending:  # not the chat model's way (it appends), but stay correct
            self._rebuild()
            return
        for row in range(first, last + 1):
            self._insert_widget(row)
        self.empty_label.setVisible(not self._widgets)
        if self._selected >= first:
            self._selected += last - first + 1

    def _on_data_changed(self, top_left: _Index, bottom_right: _Index, roles: object) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            widget = self._widgets[row] if 0 <= row < len(self._widgets) else None
            if widget is not None:
                widget.update_from(self._model.index(row, 0))

    def _rebuild(self, *_: object) -> None:
        for widget in self._widgets:
            if widget is None:
                continue
            self._column.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        rows = self._model.rowCount()
        self._widgets = [None] * rows
        self._pending = max(0, rows - INITIAL_ROWS)
        self._selected = -1
        for row in range(self._pending, rows):
            widget = self._make_widget(row)
            self._widgets[row] = widget
            self._column.insertWidget(2 + row - self._pending, widget)
        self._update_earlier_button()
        self.empty_label.setVisible(not self._widgets)
        self._stick_to_bottom = True

    def _insert_widget(self, row: int) -> None:
        widget = self._make_widget(row)
        self._widgets.insert(row, widget)
        self._column.insertWidget(2 + row - self._pending, widget)

    def _build_spares_when_quiet(self) -> None:
        """Not while a reply streams: its frames come first; try again a second later."""
        rows = self._model.rowCount()
        if rows and self._model.item(rows - 1).streaming:
            self._spare_timer.start()
            return
        self.build_spares()

    def build_spares(self) -> None:
        """Build and polish one hidden widget for each role that has none (see the module doc)."""
        for role in SPARE_ROLES:
            if role not in self._spares:
                spare = MessageWidget(role, self._column_widget)
                spare.hide()
                spare.ensurePolished()  # the stylesheet's work, done now rather than at send
                self._spares[role] = spare

    def _new_widget(self, role: str) -> MessageWidget:
        widget = self._spares.pop(role, None)
        self._spare_timer.start()  # (re)start: refill once things are quiet again
        if widget is None:
            return MessageWidget(role)
        widget.show()  # spares were hidden explicitly, which a layout does not undo
        return widget

    def _make_widget(self, row: int) -> MessageWidget:
        index = self._model.index(row, 0)
        widget = self._new_widget(str(index.data(ChatModel.RoleRole)))
        widget.update_from(index)
        widget.activated.connect(lambda w=widget: self._on_activated(w))
        widget.branchStepRequested.connect(
            lambda step, w=widget: self._emit_for(w, self.branchStepRequested, step))
        widget.branchActionRequested.connect(
            lambda w=widget: self._emit_for(w, self.branchActionRequested))
        widget.deleteRequested.connect(lambda w=widget: self._emit_for(w, self.deleteRequested))
        return widget

    def _emit_for(self, widget: MessageWidget, signal: SignalInstance, *args: int) -> None:
        if widget in self._widgets:
            signal.emit(self._widgets.index(widget), *args)

    def _on_activated(self, widget: MessageWidget) -> None:
        if widget in self._widgets:
            self.messageActivated.emit(self._widgets.index(widget))

    # Following the reply

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - _BOTTOM_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)
