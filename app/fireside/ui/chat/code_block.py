"""A code block in a finished reply: syntax-highlighted text with a Copy button above it.

The code is model output, so it is untrusted: Pygments' HTML formatter escapes every character
it writes (`<`, `>`, `&`, quotes), and the result is shown in a label that opens no links. The
language comes from the fence (```python) and only picks a lexer; it is displayed as plain text.
Colours follow the window: a light Pygments style on a light palette, a dark one on a dark
palette, re-applied when the palette changes.
"""

from __future__ import annotations

from functools import lru_cache

from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from fireside.ui.look.style import is_dark

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
COPY = "Copy code"
COPIED = "Copied"


def _lexer(language: str) -> Lexer:
    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


@lru_cache(maxsize=2)
def _formatter(dark: bool) -> HtmlFormatter[str]:
    return HtmlFormatter(noclasses=True, nowrap=True, style=DARK_STYLE if dark else LIGHT_STYLE)


def highlight(code: str, language: str, dark: bool) -> str:
    """Rich text for a QLabel: escaped, coloured with inline styles, wrapping long lines."""
    body = pygments_highlight(code, _lexer(language), _formatter(dark))
    if body.endswith("\n"):
        body = body[:-1]  # Pygments always ends with a newline; the block should not
    return f'<pre style="white-space:pre-wrap; margin:0">{body}</pre>'


def language_title(language: str) -> str:
    """What the block's header says: the lexer's own name when Pygments knows the language."""
    if not language:
        return "Code"
    lexer = _lexer(language)
    return language if isinstance(lexer, TextLexer) else lexer.name


class CodeBlock(QFrame):
    def __init__(self, code: str, language: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.code = code
        self.language = language
        self._dark: bool | None = None
        title = language_title(language)
        self.setAccessibleName(f"Code block: {title}")
        self.language_label = QLabel(title)
        self.language_label.setObjectName("codeLanguage")
        self.language_label.setTextFormat(Qt.TextFormat.PlainText)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("codeCopyButton")
        self.copy_button.setText(COPY)
        self.copy_button.setAccessibleName(f"Copy this {title} code")
        self.copy_button.setToolTip("Copy the code in this block to the clipboard")
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.clicked.connect(self.copy)
        self.code_label = QLabel()
        self.code_label.setObjectName("codeText")
        self.code_label.setTextFormat(Qt.TextFormat.RichText)
        self.code_label.setWordWrap(True)
        self.code_label.setOpenExternalLinks(False)
        self.code_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.code_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.code_label.setMinimumWidth(40)
        self.code_label.setAccessibleName(f"{title} code")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.language_label, 1)
        header.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 8)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.code_label)
        self._render()

    def watch(self, event_filter: QObject) -> None:
        for widget in (self, self.language_label, self.code_label):
            widget.installEventFilter(event_filter)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code)
        self.copy_button.setText(COPIED)
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText(COPY))

    def _render(self) -> None:
        dark = is_dark(QGuiApplication.palette())  # the system's; stylesheets override ours
        if dark != self._dark:
            self._dark = dark
            self.code_label.setText(highlight(self.code, self.language, dark))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._render()
