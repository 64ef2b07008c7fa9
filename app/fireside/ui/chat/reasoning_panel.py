"""The dockable reasoning panel: the selected reply's full trace, its token count and time.

While a reply streams, new reasoning is appended at the end instead of replacing the whole text,
so the panel stays cheap and a reader's scroll position and selection survive the updates.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QDockWidget, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from fireside.ui import wording
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.look.style import scaled_font

_Index = QModelIndex | QPersistentModelIndex


class ReasoningPanel(QDockWidget):
    def __init__(self, model: ChatModel, parent: QWidget | None = None) -> None:
        super().__init__(wording.PANEL_TITLE, parent)
        self.setObjectName("reasoningDock")
        self.setAccessibleName("Reasoning panel")
        self.setAllowedAreas(
            Qt.DockWidgetArea.LeftDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea
        )
        self._model = model
        self._row = -1
        self._shown = ""  # the trace text currently in the view

        self.subject_label = QLabel()
        self.subject_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subject_label.setWordWrap(True)
        self.subject_label.setFont(scaled_font(self, 1.0, bold=True))
        self.subject_label.setAccessibleName("Which reply this reasoning belongs to")
        self.meta_label = QLabel()
        self.meta_label.setObjectName("panelMeta")
        self.meta_label.setTextFormat(Qt.TextFormat.PlainText)
        self.meta_label.setWordWrap(True)
        self.meta_label.setAccessibleName("Reasoning tokens and time")
        self.trace_view = QPlainTextEdit()
        self.trace_view.setObjectName("reasoningTrace")
        self.trace_view.setAccessibleName("Reasoning trace")
        self.trace_view.setReadOnly(True)
        self.trace_view.setUndoRedoEnabled(False)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(10, 6, 10, 10)
        layout.setSpacing(4)
        layout.addWidget(self.subject_label)
        layout.addWidget(self.meta_label)
        layout.addWidget(self.trace_view, 1)
        self.setWidget(body)
        self.setMinimumWidth(240)

        model.dataChanged.connect(self._on_data_changed)
        model.modelReset.connect(lambda: self.show_row(-1))
        model.rowsRemoved.connect(lambda *_: self.show_row(-1))
        self.show_row(-1)

    @property
    def row(self) -> int:
        return self._row

    def trace_text(self) -> str:
        return self.trace_view.toPlainText()

    def show_row(self, row: int) -> None:
        """Show the reasoning of assistant row `row`; -1 (or a user row) shows the empty state."""
        valid = 0 <= row < self._model.rowCount()
        if valid and self._model.item(row).role != "assistant":
            valid = False
        self._row = row if valid else -1
        self.subject_label.setVisible(self._row >= 0)  # the dock's title already says "Reasoning"
        if self._row < 0:
            self.subject_label.clear()
            self.meta_label.setText(wording.PANEL_EMPTY)
            self._set_trace("")
            return
        self.subject_label.setText(wording.panel_subject(self._model.question_for(row)))
        self._refresh()

    def _on_data_changed(self, top_left: _Index, bottom_right: _Index, roles: object) -> None:
        if self._row >= 0 and top_left.row() <= self._row <= bottom_right.row():
            self._refresh()

    def _refresh(self) -> None:
        index = self._model.index(self._row, 0)
        reasoning: str = index.data(ChatModel.ReasoningRole) or ""
        streaming = bool(index.data(ChatModel.StreamingRole))
        answered = bool(self._model.item(self._row).text)  # not data(): that copies the whole reply
        if reasoning:
            meta = wording.panel_meta(
                streaming,
                index.data(ChatModel.ReasoningSecondsRole),
                index.data(ChatModel.ReasoningTokensRole),
                answered,
            )
        else:
            meta = wording.PANEL_WAITING if streaming else wording.PANEL_NO_REASONING
        self.meta_label.setText(meta)
        self._set_trace(reasoning)

    def _set_trace(self, text: str) -> None:
        if text == self._shown:
            return
        if self._shown and text.startswith(self._shown):
            bar = self.trace_view.verticalScrollBar()
            at_bottom = bar.value() >= bar.maximum() - 4
            cursor = QTextCursor(self.trace_view.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text[len(self._shown) :])
            if at_bottom:
                bar.setValue(bar.maximum())
        else:
            self.trace_view.setPlainText(text)
        self._shown = text
