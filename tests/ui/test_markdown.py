"""Finished answers render as Markdown, and hostile model output stays inert: raw HTML is shown
as text, images are never loaded, and only http(s) links open, only on a click."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from fireside.ui import markdown
from fireside.ui.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine

from .conftest import MODEL_PATH, MakeWindow
from .test_main_window import send_and_wait

HOSTILE = (
    "Hi <script>alert(1)</script> <img src=http://evil.example/x.png> "
    '<a href="javascript:alert(2)">raw</a>\n\n'
    "![tracker](http://evil.example/pixel.png)\n\n"
    "[click me](javascript:alert(3)) and [docs](https://example.com/docs)"
)


def test_raw_html_is_escaped_and_images_are_not_loaded() -> None:
    html = markdown.render_markdown(HOSTILE)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html  # neither the raw tag nor the Markdown image
    assert "&lt;img src=http://evil.example/x.png&gt;" in html
    assert "[image not loaded: http://evil.example/pixel.png]" in html
    assert '<a href="javascript:alert(2)">' not in html  # raw anchor stays text


def test_only_http_links_open_and_only_through_open_link(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(url.toString()) or True))
    for url in ("javascript:alert(3)", "file:///etc/passwd", "data:text/html,hi", "ftp://x/y"):
        assert markdown.open_link(url) is False
    assert markdown.open_link("https://example.com/docs") is True
    assert markdown.open_link("HTTP://example.com") is True
    assert opened == ["https://example.com/docs", QUrl("HTTP://example.com").toString()]


def test_formatting_tables_code_and_line_breaks() -> None:
    text = "**bold** and `code`\nsecond line\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx = 1\ny = 2\n```"
    html = markdown.render_markdown(text)
    assert "font-weight:700" in html and "<table" in html and "<pre" in html
    # The newline still breaks the line (Qt makes it a new block) instead of joining the lines.
    assert re.search(r"code(</span>)?</p>", html) and ">second line</p>" in html
    assert markdown.keep_line_breaks("```\na\nb\n```") == "```\na\nb\n```"  # code untouched


def test_finished_reply_shows_markdown_while_streaming_shows_plain_text(
    qtbot, make_window: MakeWindow
) -> None:
    engine = ScriptedEngine(answer=("**Bold** claim", " <script>x</script>"))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window, "Say something bold")
    message = window.transcript.widget_at(row)
    assert message.markdown_label.isVisible() and not message.answer_label.isVisible()
    assert "font-weight:700" in message.markdown_label.text()
    assert "&lt;script&gt;" in message.markdown_label.text()
    assert not message.markdown_label.openExternalLinks()
    assert message.answer_label.text() == "**Bold** claim <script>x</script>"  # what Copy copies
    user = window.transcript.widget_at(row - 1)
    assert not user.markdown_label.isVisible() and user.answer_label.isVisible()


def test_a_very_long_reply_stays_plain_text(qtbot, make_window: MakeWindow) -> None:
    """Rendering 400,000 characters as Markdown would freeze the window for seconds."""
    engine = ScriptedEngine(answer=("**x** " * (markdown.MARKDOWN_MAX_CHARS // 6 + 1),))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window, "Go long")
    message = window.transcript.widget_at(row)
    assert message.answer_label.isVisible() and not message.markdown_label.isVisible()
