"""Plain text that grows without getting slower: a column of labels holding about 2,000
characters each, placed by hand.

Measured with one QLabel per message: setting 400,000 characters (a 50,000-token reply) and
laying it out takes about 0.8 s, and the streaming reply is re-set every 50 ms, so a long answer
froze the window. Here a streamed append only touches the last chunk (and adds new ones), and
chunk breaks fall after a newline when one is near, so the split never shows inside a paragraph
of ordinary length.

The chunks are not in a QLayout: a QVBoxLayout re-asks every chunk for its height at four or
five widths on each layout pass (its per-item cache holds three), so with 200 chunks each 50 ms
update made ~2,000 calls and the GUI's cost per token grew thirteen-fold between token 1,000 and
50,000 (tests/benchmarks/gui_stall.py; docs/performance/gui-notes.md). Instead the widget keeps,
per width, the summed height of the finished chunks, answers heightForWidth from that plus the
last chunk, and on an append re-places only the chunks from the changed one down.

It keeps the parts of QLabel's interface the message widget and its tests use (text, setText,
textFormat, openExternalLinks); the text stays plain and never interpreted.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

CHUNK_CHARS = 2_000
_WIDTHS_KEPT = 16  # per-width height sums remembered (the layouts ask at a handful)
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

    def __init__(self, parent: ChunkedText) -> None:
        super().__init__(parent)
        self._heights: dict[int, int] = {}
        self._column = parent
        self.placed = False  # once placed, a change of its metrics must re-place the column

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
            if self.placed:
                self._column.metrics_changed()
        super().changeEvent(event)


class ChunkedText(QWidget):
    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(40)
        self._text = ""
        self._starts: list[int] = []  # where each chunk begins in _text
        self._labels: list[_Chunk] = []
        self._filter: QObject | None = None
        self._sums: dict[int, tuple[int, int]] = {}  # width -> (first n chunks, their total height)
        self._placed_width = -1  # chunks are positioned for this width
        self._replace_pending = False

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

    # Size: finished chunks' heights are summed once per width; only the last chunk is re-measured

    def heightForWidth(self, width: int) -> int:
        if not self._labels:
            return 0
        return self._finished_height(width, len(self._labels) - 1) + self._growing_height(width)

    def _growing_height(self, width: int) -> int:
        """The last chunk's height. It changes on every append, so it is measured exactly only at
        the width it is shown at; the layouts' questions at other widths (size hints at 40 or
        ~120 px) get an estimate, the same text area in a different width. Measuring there too
        re-laid out 2,000 characters several times per update, and again at paint time."""
        last, shown = self._labels[-1], self.width()
        if width == shown or shown <= self.minimumWidth() or not self.isVisible():
            return last.heightForWidth(width)
        return -(-last.heightForWidth(shown) * shown // max(width, 1))  # rounded up

    def sizeHint(self) -> QSize:
        width = self.width() if self.width() > self.minimumWidth() else 400
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), self.fontMetrics().lineSpacing() if self._labels else 0)

    def _finished_height(self, width: int, count: int) -> int:
        """Total height of the first `count` chunks at `width`, extending the remembered sum."""
        counted, total = self._sums.get(width, (0, 0))
        if counted > count:
            counted, total = 0, 0
        for label in self._labels[counted:count]:
            total += label.heightForWidth(width)
        if width not in self._sums and len(self._sums) >= _WIDTHS_KEPT:
            self._sums.clear()
        self._sums[width] = (count, total)
        return total

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Growing taller (every append) moves nothing; only a new width re-places every chunk,
        # and asks the layouts again: they sized us with an estimate for this width.
        if self.width() != self._placed_width:
            self._place_from(0)
            self.updateGeometry()

    def metrics_changed(self) -> None:
        """A chunk's font or style changed: every height may differ; re-place once, soon."""
        self._sums.clear()
        self._placed_width = -1
        if not self._replace_pending:
            self._replace_pending = True
            QTimer.singleShot(0, self, self._replace_all)

    def _replace_all(self) -> None:
        self._replace_pending = False
        self._place_from(0)
        self.updateGeometry()

    def _place_from(self, first: int) -> None:
        """Position chunks `first`… below each other at the current width (all of them if it changed)."""
        width = self.width()
        if width != self._placed_width:
            first, self._placed_width = 0, width
        first = min(first, len(self._labels))
        y = 0
        if first > 0:
            above = self._labels[first - 1].geometry()
            y = above.y() + above.height()
        for label in self._labels[first:]:
            height = label.heightForWidth(width)
            label.setGeometry(0, y, width, height)
            label.placed = True
            y += height

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
            label.hide()
            label.deleteLater()
        del self._labels[index:]
        for width, (counted, _total) in list(self._sums.items()):
            if counted > first:  # a finished chunk changed (text replaced): recount from scratch
                del self._sums[width]
        self._place_from(first)
        self.updateGeometry()

    def _label(self, index: int) -> _Chunk:
        if index < len(self._labels):
            return self._labels[index]
        label = _Chunk(self)
        make_plain(label)
        label.setAccessibleName(self.accessibleName())
        if self._filter is not None:
            label.installEventFilter(self._filter)
        label.ensurePolished()  # its style-sheet font now, so the first measurement is the real one
        label.show()
        self._labels.append(label)
        return label
