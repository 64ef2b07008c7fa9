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
import json
import re
from dataclasses import dataclass

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument

_FLAGS = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)
# Qt writes every image as <img src="…" … />; user text never contains a bare "<" (it is escaped).
_IMG = re.compile(r'<img src="([^"]*)"[^>]*/?>')
_SAFE_SCHEMES = ("http", "https")
# Qt writes the document's default font on <body>; without it the label's own font applies, so
# the chat's text size (a stylesheet rule, see comfort.py) reaches rendered replies unchanged.
_BODY_STYLE = re.compile(r'<body style="[^"]*">')
# md4c's bare-address links swallow the sentence's full stop ("see https://x.org/a.")
_AUTOLINK_TAIL = re.compile(r'<a href="([^"]+?)([.,;:!?]+)"><span([^>]*)>\1\2</span></a>')
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


def render_markdown(text: str, link_color: str = "", code_background: str = "") -> str:
    """HTML for a QLabel: Markdown formatting, tables and code, with no raw HTML and no images.
    Sizes are relative, so the label's font decides how large it reads. Links take `link_color`
    (the theme's; a stylesheet leaves a label's own link colour stale), else the label's; inline
    code gets `code_background` behind it, so `x` reads as code and not as a word."""
    doc = QTextDocument()
    doc.setMarkdown(keep_line_breaks(text), _FLAGS)
    page = _BODY_STYLE.sub("<body>", doc.toHtml(), count=1)
    # Qt hard-codes blue links, unreadable on a dark background.
    link = f" color:{link_color};" if re.fullmatch(r"#[0-9a-fA-F]{6}", link_color) else ""
    if re.fullmatch(r"#[0-9a-fA-F]{6}", code_background):
        page = page.replace("<span style=\" font-family:'monospace';\">",
                            f"<span style=\" font-family:'monospace'; background-color:{code_background};\">")
    page = _AUTOLINK_TAIL.sub(r'<a href="\1"><span\3>\1</span></a>\2', page)
    return _IMG.sub(_image_note, page).replace(" color:#0000ff;", link)


def is_safe_link(url: str) -> bool:
    return QUrl(url).scheme().lower() in _SAFE_SCHEMES


def open_link(url: str) -> bool:
    """Open an http(s) link in the browser; refuse anything else. True when it was opened."""
    if not is_safe_link(url):
        return False
    return QDesktopServices.openUrl(QUrl(url))


# Code blocks are pulled out of the reply and shown as their own widgets (code_block.py): a
# highlighted body with a Copy button. A fence opens with ``` or ~~~ indented at most three
# spaces (CommonMark); fences inside list items stay with md4c and render as plain <pre>.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
MAX_LANGUAGE_CHARS = 40


@dataclass(frozen=True)
class Prose:
    text: str


@dataclass(frozen=True)
class Code:
    code: str
    language: str  # from the fence's info string, lower-case; "" when none was given


def json_answer(text: str) -> Code | None:
    """A reply that is one JSON object or array and nothing else (a structured answer) as an
    indented JSON code block, which reads far better than one long line; None for anything else."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")) and not (
            body.startswith("[") and body.endswith("]")):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return Code(json.dumps(value, indent=2, ensure_ascii=False), "json")


def split_code_blocks(text: str) -> list[Prose | Code]:
    """Split Markdown into prose and fenced code blocks, in order. An unclosed fence runs to the
    end of the text, as CommonMark says. Pure text processing: the code is kept verbatim."""
    parts: list[Prose | Code] = []
    prose: list[str] = []
    lines = text.split("\n")
    n = 0
    while n < len(lines):
        opening = _FENCE.match(lines[n])
        if opening is None or (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            prose.append(lines[n])
            n += 1
            continue
        fence = opening.group(1)
        info = opening.group(2).strip().split(maxsplit=1)
        language = info[0].lower()[:MAX_LANGUAGE_CHARS] if info else ""
        body: list[str] = []
        n += 1
        while n < len(lines):
            closing = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[n])
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                n += 1
                break
            body.append(lines[n])
            n += 1
        if "\n".join(prose).strip():
            parts.append(Prose("\n".join(prose).strip("\n")))
        prose = []
        parts.append(Code("\n".join(body), language))
    if "\n".join(prose).strip():
        parts.append(Prose("\n".join(prose).strip("\n")))
    return parts
