"""Markdown for finished answers, treating model output as untrusted.

Qt's own Markdown reader (md4c) does the parsing, with raw HTML switched off, so `<script>` or
`<img src=…>` written by the model shows up as text instead of being interpreted. Images written
in Markdown syntax are replaced by a note naming the address: nothing in a reply makes Fireside
fetch or read anything. Links are kept, but `open_link` opens only http(s) addresses, and only
when the user clicks; `javascript:`, `file:` and the rest do nothing.

Only finished replies are rendered this way; while a reply streams it is shown as plain text, so
re-rendering stays cheap however long the answer grows.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QFont, QTextDocument

_FLAGS = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)
# Qt writes every image as <img src="…" … />; user text never contains a bare "<" (it is escaped).
_IMG = re.compile(r'<img src="([^"]*)"[^>]*/?>')
_SAFE_SCHEMES = ("http", "https")
# Rendering is one pass on the GUI thread: ~90 ms at this size, but ~1.8 s for a 50,000-token
# (400,000-character) reply, so replies longer than this stay plain text.
MARKDOWN_MAX_CHARS = 20_000


def _image_note(match: re.Match[str]) -> str:
    address = html.unescape(match.group(1))
    return html.escape(f"[image not loaded: {address}]", quote=False)


def keep_line_breaks(text: str) -> str:
    """Make each single newline a hard break outside code fences: models write poems, addresses
    and step lists one per line and expect them to stay that way, unlike CommonMark's rule of
    joining them into one paragraph."""
    out: list[str] = []
    fenced = False
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif (not fenced and line.strip() and n + 1 < len(lines) and lines[n + 1].strip()
              and not line.endswith(("  ", "\\"))):
            line += "  "
        out.append(line)
    return "\n".join(out)


def render_markdown(text: str, font: QFont | None = None) -> str:
    """HTML for a QLabel: Markdown formatting, tables and code, with no raw HTML and no images."""
    doc = QTextDocument()
    if font is not None:
        doc.setDefaultFont(font)
    doc.setMarkdown(keep_line_breaks(text), _FLAGS)
    # Qt hard-codes blue links; dropping it lets the label use the theme's link colour.
    return _IMG.sub(_image_note, doc.toHtml()).replace(" color:#0000ff;", "")


def is_safe_link(url: str) -> bool:
    return QUrl(url).scheme().lower() in _SAFE_SCHEMES


def open_link(url: str) -> bool:
    """Open an http(s) link in the browser; refuse anything else. True when it was opened."""
    if not is_safe_link(url):
        return False
    return QDesktopServices.openUrl(QUrl(url))
