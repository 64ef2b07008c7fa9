"""A finished reply shown as Markdown: prose in rich-text labels, fenced code in CodeBlocks.

The reply is split at its top-level code fences (markdown.split_code_blocks); each prose part
goes through render_markdown (raw HTML escaped, images not loaded), each code part becomes a
highlighted block with its own Copy button. Links open only through markdown.open_link, so only
http(s), and only on a click.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from fireside.ui.chat.code_block import CodeBlock
from fireside.ui.chat.markdown import Code, open_link, render_markdown, split_code_blocks
from fireside.ui.look.style import mix


def _prose_label(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName("answerMarkdown")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setOpenExternalLinks(False)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)
    label.setAccessibleName("Reply")
    label.linkActivated.connect(open_link)
    return label


def _theme_colors() -> tuple[str, str]:
    """(link colour, inline-code background) from the system palette."""
    palette = QGuiApplication.palette()
    base, text = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
    return palette.color(QPalette.ColorRole.Link).name(), mix(base, text, 0.09)


class RichAnswer(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("richAnswer")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._parts: list[QWidget] = []
        self._filter: QObject | None = None
        self._source = ""
        self._prose: list[tuple[QLabel, str]] = []  # each prose label and its Markdown
        self._colors = ("", "")

    def set_markdown(self, text: str) -> None:
        for old in self._parts:
            self._layout.removeWidget(old)
            old.hide()
            old.deleteLater()
        self._parts, self._prose = [], []
        self._source = text
        self._colors = _theme_colors()
        for piece in split_code_blocks(text):
            part: QWidget
            if isinstance(piece, Code):
                part = CodeBlock(piece.code, piece.language, self)
            else:
                part = label = _prose_label(self)
                label.setText(render_markdown(piece.text, *self._colors))
                self._prose.append((label, piece.text))
            if self._filter is not None:
                self._watch(part, self._filter)
            self._layout.addWidget(part)
            self._parts.append(part)
            if self.isVisible():  # on screen already: show it now, not on the next event-loop pass
                part.show()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange):
            colors = _theme_colors()  # the theme changed: links and code must stay readable
            if colors != self._colors:
                self._colors = colors
                for label, text in self._prose:
                    label.setText(render_markdown(text, *colors))

    def source(self) -> str:
        return self._source

    # The QLabel-like surface the message widget and tests use

    def text(self) -> str:
        """The rendered HTML of the prose parts (code blocks are read through code_blocks())."""
        return "\n".join(p.text() for p in self._parts if isinstance(p, QLabel))

    def openExternalLinks(self) -> bool:
        return False

    def prose_labels(self) -> list[QLabel]:
        return [p for p in self._parts if isinstance(p, QLabel)]

    def code_blocks(self) -> list[CodeBlock]:
        return [p for p in self._parts if isinstance(p, CodeBlock)]

    def watch(self, event_filter: QObject) -> None:
        """Install `event_filter` on every part, now and after each re-render."""
        self._filter = event_filter
        self.installEventFilter(event_filter)
        for part in self._parts:
            self._watch(part, event_filter)

    @staticmethod
    def _watch(part: QWidget, event_filter: QObject) -> None:
        if isinstance(part, CodeBlock):
            part.watch(event_filter)
        else:
            part.installEventFilter(event_filter)
