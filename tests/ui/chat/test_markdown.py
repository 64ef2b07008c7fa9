"""Finished answers render as Markdown, and hostile model output stays inert: raw HTML is shown
as text, images are never loaded, and only http(s) links open, only on a click."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices

from fireside.ui.chat import markdown
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait

HOSTILE = (
    "Hi <script>alert(1)</script> <img src=http://evil.example/x.png> "
    '<a href="javascript:alert(2)">raw</a>\n\n'
    "![tracker](http://evil.example/pixel.png)\n\n"
    "[click me](javascript:alert(3)) and [docs](https://example.com/docs)"
)


def test_raw_html_is_escaped_and_images_are_not_loaded(qapp) -> None:  # type: ignore[no-untyped-def]
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


def test_formatting_tables_code_and_line_breaks(qapp) -> None:  # type: ignore[no-untyped-def]
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


# Code blocks: split out, highlighted, escaped, each with its own Copy button

CODE_REPLY = (
    "Here is the fix:\n\n"
    "```python\ndef greet(name):\n    return f\"<b>{name}</b>\"  # </pre><script>alert(1)</script>\n```\n\n"
    "And a shell line:\n\n~~~<img src=http://evil.example/x>\ncurl https://example.com | sh\n~~~\n\n"
    "    ```\n    indented four: not a fence\n    ```\n"
)


def test_split_code_blocks_keeps_code_verbatim_and_in_order() -> None:
    parts = markdown.split_code_blocks(CODE_REPLY)
    kinds = [type(p).__name__ for p in parts]
    assert kinds == ["Prose", "Code", "Prose", "Code", "Prose"]
    code = parts[1]
    assert isinstance(code, markdown.Code) and code.language == "python"
    assert code.code == 'def greet(name):\n    return f"<b>{name}</b>"  # </pre><script>alert(1)</script>'
    assert parts[3] == markdown.Code("curl https://example.com | sh", "<img")
    # An unclosed fence runs to the end; inline ``` with backticks in the info is not a fence.
    assert markdown.split_code_blocks("a\n```js\nlet x = 1") == [
        markdown.Prose("a"), markdown.Code("let x = 1", "js")]
    assert markdown.split_code_blocks("``` `x` ```") == [markdown.Prose("``` `x` ```")]


def test_highlighted_code_escapes_everything_and_loads_nothing() -> None:
    from fireside.ui.chat.code_block import highlight

    for dark in (False, True):
        html = highlight('x = "<script>alert(1)</script>" <img src=http://evil.example/a.png>',
                         "python", dark)
        assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
        assert "<span style=" in html  # coloured
        assert html.startswith("<pre") and html.count("<pre") == 1
    assert highlight("</pre><b>x</b>", "no-such-language", False).count("</pre>") == 1


def test_code_blocks_render_with_a_copy_button_each(qtbot, make_window: MakeWindow) -> None:
    from PySide6.QtGui import QGuiApplication

    engine = ScriptedEngine(answer=(CODE_REPLY,))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window, "Fix my code")
    rich = window.transcript.widget_at(row).markdown_label
    blocks = rich.code_blocks()
    assert [b.language_label.text() for b in blocks] == ["Python", "<img"]
    assert blocks[1].language_label.textFormat() == Qt.TextFormat.PlainText  # shown, not parsed
    for block in blocks:
        assert block.isVisible() and block.copy_button.isVisible()
        assert block.copy_button.accessibleName().startswith("Copy this")
        assert not block.code_label.openExternalLinks()
        assert "<script" not in block.code_label.text() and "<img" not in block.code_label.text()
    qtbot.mouseClick(blocks[0].copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == blocks[0].code
    assert blocks[0].copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: blocks[0].copy_button.text() == "Copy code", timeout=3000)
    assert "indented four" in rich.text()  # an indented block stays with the prose
    message = window.transcript.widget_at(row)  # a search hit is selected where it is shown
    assert message.highlight("GREET") is blocks[0].code_label
    assert blocks[0].code_label.selectedText() == "greet"
    assert message.highlight("shell LINE") is rich.prose_labels()[1]
    assert message.highlight("not in this reply") is None


def test_code_colours_follow_a_dark_palette(qtbot, make_window: MakeWindow) -> None:
    from PySide6.QtGui import QColor, QGuiApplication, QPalette

    engine = ScriptedEngine(answer=("```python\nimport os\n```\n\nSee [the docs](https://example.com).",))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window, "Code please")
    block = window.transcript.widget_at(row).markdown_label.code_blocks()[0]
    light = block.code_label.text()
    light_sheet = window.styleSheet()
    original = QGuiApplication.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#eeeeee"))
    dark.setColor(QPalette.ColorRole.Link, QColor("#8ab4f8"))
    rich = window.transcript.widget_at(row).markdown_label
    try:
        QGuiApplication.setPalette(dark)  # what the platform theme does when the system goes dark
        qtbot.waitUntil(lambda: block.code_label.text() != light, timeout=10_000)
        assert "import" in block.code_label.text()
        assert window.styleSheet() != light_sheet and "background: #1e1e1e" in window.styleSheet()
        assert "color:#8ab4f8" in rich.text()  # links stay readable on the dark background
    finally:
        QGuiApplication.setPalette(original)
    qtbot.waitUntil(lambda: block.code_label.text() == light, timeout=10_000)
    assert window.styleSheet() == light_sheet


def test_a_bare_address_at_the_end_of_a_sentence_leaves_the_full_stop_out(qapp) -> None:  # type: ignore[no-untyped-def]
    html = markdown.render_markdown("See https://docs.python.org/3/library/html.html. Or [x](https://a.org/b.)")
    assert 'href="https://docs.python.org/3/library/html.html"' in html
    assert "html.html</span></a>." in html
    assert 'href="https://a.org/b."' in html  # an explicit link is left exactly as written


def test_theme_colours_reach_links_and_inline_code_but_only_as_colours(qapp) -> None:  # type: ignore[no-untyped-def]
    html = markdown.render_markdown("Use `x` and [docs](https://example.com)", "#8ab4f8", "#2a2b2e")
    assert "color:#8ab4f8;" in html and "background-color:#2a2b2e;" in html
    hostile = markdown.render_markdown("`x`", '#fff;"><script>', "red; background:url(http://x)")
    assert "<script" not in hostile and "url(" not in hostile


def test_a_reply_that_is_one_json_value_is_shown_indented_as_json() -> None:
    block = markdown.json_answer(' {"city":"Lisbon","sunny":false,"tags":["é"]} \n')
    assert block == markdown.Code('{\n  "city": "Lisbon",\n  "sunny": false,\n  "tags": [\n    "é"\n  ]\n}',
                                  "json")
    assert markdown.json_answer("[1, 2]") == markdown.Code("[\n  1,\n  2\n]", "json")
    for prose in ('{"a": 1} and more', "{not json}", "Use {braces}.", '"just a string"', ""):
        assert markdown.json_answer(prose) is None, prose


def test_a_structured_answer_is_one_json_code_block_in_the_transcript(
        qtbot, make_window: MakeWindow) -> None:  # type: ignore[no-untyped-def]
    engine = ScriptedEngine(answer=('{"city": "Lisbon", "sunny": true}',))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window, "Weather?")
    rich = window.transcript.widget_at(row).markdown_label
    [block] = rich.code_blocks()
    assert block.language_label.text() == "JSON" and block.isVisible()
    assert block.code == '{\n  "city": "Lisbon",\n  "sunny": true\n}'
    assert rich.prose_labels() == []
    assert window.chat_model.item(row).text == '{"city": "Lisbon", "sunny": true}'  # kept as written
    from PySide6.QtGui import QGuiApplication

    qtbot.mouseClick(window.transcript.widget_at(row).copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == '{"city": "Lisbon", "sunny": true}'
