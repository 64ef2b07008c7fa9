"""PlainStreamParser: stop strings and <think> blocks, independent of chunking."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fireside.core.chat.events import AnswerDelta, ReasoningDelta
from fireside.core.chat.text_stream import PlainStreamParser

STOPS = ("\nUser:",)


def _parse(chunks: list[str], stops=STOPS) -> tuple[str, str, bool]:
    p = PlainStreamParser(stops)
    events = [e for c in chunks for e in p.feed(c)] + p.finish()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert (reasoning, answer) == (p.reasoning, p.answer)
    return reasoning, answer, p.done


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def test_stop_string_ends_the_answer_and_is_never_shown():
    assert _parse([" Paris is the capital.\nUs", "er: and more"]) == (
        "", "Paris is the capital.", True
    )


def test_think_block_goes_to_reasoning():
    assert _parse(["<thi", "nk>Let me see.</th", "ink>\nIt is 4."]) == ("Let me see.", "It is 4.", False)


def test_angle_brackets_that_are_not_tags_stay_text():
    assert _parse(["a < b and <thinking"])[1] == "a < b and <thinking"


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab <>/\nUser:thinkTHINK")), max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=10),
)
def test_result_does_not_depend_on_chunking(text: str, cuts: list[int]):
    whole = _parse([text])
    assert _parse(_split(text, cuts)) == whole
    assert _parse(list(text)) == whole
    assert "\nUser:" not in whole[1]
