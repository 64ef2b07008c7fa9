"""Plain text that grows without getting slower: a column of labels holding about 2,000
characters each.

Measured with one QLabel per message: setting 400,000 characters (a 50,000-token reply) and
laying it out takes about 0.8 s, and the streaming reply is re-set every 50 ms, so a long answer
froze the window. Here a streamed append only touches the last chunk (and adds new ones), so
each update costs the same at token 50,000 as at token 50. Chunks break after a newline when
one is near, so the split never shows inside a paragraph of ordinary length.

It keeps the parts of QLabel's interface the message widget and its tests use (text, setText,
textFormat, openExternalLinks); the text stays plain and never interpreted.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

CHUNK_CHARS = 2_000
_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard


def make_plain(label: QLabel) -> QLabel:
    """Word-wrapping, selectable, and never rich text: model output is untrusted."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setOpenExternalLinks(False)
    label.setTextInteractionFlags(_SELECTABLE)
    # Ignored width: a long unbroken word must not widen the transcript past the window.
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)
    return label


def plain_label(object_name: str, parent: QWidget | None = None) -> QLabel:
    label = make_plain(QLabel(parent))
    label.setObjectName(object_name)
    return label


def split_point(text: str, start: int, limit: int = CHUNK_CHARS) -> int:
    """Where the chunk starting at `start` should end: just after the last newline in the back
    half of the window, else after the last space, else at the hard limit."""
    end = start + limit
    if end >= len(text):
        return len(text)
    newline = text.rfind("\n", start + limit // 2, end)
    if newline >= 0:
        return newline + 1
    space = text.rfind(" ", start + limit // 2, end)
    return space + 1 if space >= 0 else end


class _Chunk(QLabel):
    """A label that remembers its height per width: Qt asks every label again on each layout
    pass, and re-measuring 2,000 wrapped characters each time made layout grow with the reply."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._heights: dict[int, int] = {}

    def setText(self, text: str) -> None:
        self._heights.clear()
        super().setText(text)

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = super().heightForWidth(width)
        return height

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._heights.clear()
        super().changeEvent(event)


class ChunkedText(QWidget):
    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._text = ""
        self._starts: list[int] = []  # where each chunk begins in _text
        self._labels: list[QLabel] = []
        self._filter: QObject | None = None

    # The QLabel-like surface

    def text(self) -> str:
        return self._text

    def textFormat(self) -> Qt.TextFormat:
        return Qt.TextFormat.PlainText

    def openExternalLinks(self) -> bool:
        return False

    def chunk_count(self) -> int:
        return len(self._labels)

    def labels(self) -> list[QLabel]:
        return list(self._labels)

    def watch(self, event_filter: QObject) -> None:
        """Install `event_filter` on every chunk, now and later (clicks land on the chunks)."""
        self._filter = event_filter
        self.installEventFilter(event_filter)
        for label in self._labels:
            label.installEventFilter(event_filter)

    def setText(self, text: str) -> None:
        if text == self._text:
            return
        # Appending: only the last chunk grows (and new ones follow); anything else starts over.
        first = len(self._starts) - 1 if self._labels and text.startswith(self._text) else 0
        self._text = text
        self._relayout_from(first)

    # Chunking

    def _relayout_from(self, first: int) -> None:
        start = self._starts[first] if first < len(self._starts) else 0
        del self._starts[first:]
        index = first
        while True:
            end = split_point(self._text, start)
            piece = self._text[start:end]
            shown = piece[:-1] if piece.endswith("\n") and end < len(self._text) else piece
            label = self._label(index)
            if label.text() != shown:
                label.setText(shown)
            self._starts.append(start)
            index += 1
            start = end
            if start >= len(self._text):
                break
        for label in self._labels[index:]:
            self._layout.removeWidget(label)
            label.deleteLater()
        del self._labels[index:]

    def _label(self, index: int) -> QLabel:
        if index < len(self._labels):
            return self._labels[index]
        label = make_plain(_Chunk(self))
        label.setAccessibleName(self.accessibleName())
        if self._filter is not None:
            label.installEventFilter(self._filter)
        self._layout.addWidget(label)
        self._labels.append(label)
        return label
