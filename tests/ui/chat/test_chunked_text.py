"""Long plain text in chunks: appending touches only the end, the text survives intact, and
chunk breaks fall after newlines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from fireside.ui.chat.chunked_text import CHUNK_CHARS, ChunkedText, split_point


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


def _stacked(widget: ChunkedText, width: int) -> bool:
    """Chunks fill the widget's width, each at its own height for it, one below the other."""
    y = 0
    for label in widget._labels:
        g = label.geometry()
        if (g.x(), g.y(), g.width(), g.height()) != (0, y, width, label.heightForWidth(width)):
            return False
        y += g.height()
    return y == widget.heightForWidth(width)


def test_chunks_are_stacked_and_the_height_is_their_sum(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = ChunkedText("answerText")
    qtbot.addWidget(widget)
    widget.resize(500, 100)
    widget.show()
    text = ""
    for n in range(30):
        text += f"paragraph {n} " + "word " * 80 + "\n"
        widget.setText(text)
    assert widget.chunk_count() > 3 and _stacked(widget, 500)
    widget.resize(260, 100)  # narrower: every chunk wraps to more lines
    assert _stacked(widget, 260) and widget.heightForWidth(260) > widget.heightForWidth(500)
    widget.setText("short")  # replaced, not appended: one chunk, the height shrinks with it
    assert widget.chunk_count() == 1 and _stacked(widget, 260)


def test_an_append_measures_only_the_changed_chunks(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What keeps a 50,000-token reply as cheap to stream as a short one: an append re-measures
    the last chunk (and any new one), not the hundreds above it, however the layouts around it
    ask (a scroll area over a bubble, as in the transcript)."""
    from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

    from fireside.ui.chat import chunked_text

    widget = ChunkedText("answerText")
    bubble = QWidget()
    QVBoxLayout(bubble).addWidget(widget)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(bubble)
    qtbot.addWidget(area)
    area.resize(520, 400)
    area.show()
    text = ("word " * 70 + "\n") * 400  # ~140,000 characters, ~70 chunks
    for more in ("", " more"):  # the second pass sees the scroll bar: the width the reply streams at
        widget.setText(text + more)
        QApplication.processEvents()  # the event loop runs layout and paint between streamed batches
    asked: set[int] = set()
    real = chunked_text._Chunk.heightForWidth

    def counting(label, width):  # type: ignore[no-untyped-def]
        asked.add(id(label))
        return real(label, width)

    monkeypatch.setattr(chunked_text._Chunk, "heightForWidth", counting)
    for n in range(10):
        text += f" more{n}"
        widget.setText(text)
        QApplication.processEvents()
    assert widget.chunk_count() > 60 and widget.text() == text
    assert len(asked) <= 2, len(asked)  # the growing last chunk (and one started after it)
