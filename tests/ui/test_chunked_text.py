"""Long plain text in chunks: appending touches only the end, the text survives intact, and
chunk breaks fall after newlines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from fireside.ui.chunked_text import CHUNK_CHARS, ChunkedText, split_point


def _shown(widget: ChunkedText) -> list[str]:
    return [label.text() for label in widget._labels]


def test_streaming_append_keeps_earlier_chunks_untouched(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = ChunkedText("answerText")
    qtbot.addWidget(widget)
    paragraph = "word " * 60 + "\n"  # 301 characters
    text = ""
    for _ in range(40):
        text += paragraph
        widget.setText(text)
    assert widget.text() == text and widget.chunk_count() >= len(text) // CHUNK_CHARS
    first_labels = list(widget._labels[:-1])
    before = [label.text() for label in first_labels]
    widget.setText(text + "more")
    assert widget._labels[:-1] == first_labels and [lb.text() for lb in first_labels] == before
    assert widget._labels[-1].text().endswith("more")
    assert all(chunk.endswith("word ") for chunk in _shown(widget)[:-1])  # broken after a newline
    assert widget.textFormat() == Qt.TextFormat.PlainText and not widget.openExternalLinks()


def test_replacing_the_text_rebuilds_and_shrinks(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = ChunkedText("answerText")
    qtbot.addWidget(widget)
    widget.setText("x" * (CHUNK_CHARS * 3))
    assert widget.chunk_count() == 3
    widget.setText("<b>short</b>")
    assert widget.chunk_count() == 1 and _shown(widget) == ["<b>short</b>"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n"), max_size=9000), st.integers(1, 4000))
def test_chunks_cover_the_text_exactly(text: str, limit: int) -> None:
    start, pieces = 0, []
    while start < len(text):
        end = split_point(text, start, limit)
        assert start < end <= start + limit
        pieces.append(text[start:end])
        start = end
    assert "".join(pieces) == text
