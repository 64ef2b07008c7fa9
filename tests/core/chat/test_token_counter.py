"""Every generated token is counted once, towards the message it belongs to."""

from __future__ import annotations

from fireside.core.chat.events import AnswerDelta, ReasoningDelta
from fireside.core.chat.harmony import StreamParser
from fireside.core.chat.token_counter import TokenCounter

PIECES = [
    "<|channel|>", "analysis", "<|message|>", "Think", "ing", ".", "<|end|>",
    "<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "Hi", " there", "<|return|>",
]


def test_harmony_reply_headers_count_towards_their_message():
    parser, counter = StreamParser(), TokenCounter()
    for piece in PIECES:
        counter.add(parser.feed(piece))
    counter.add(parser.finish(), final=True)
    assert counter.reasoning + counter.answer == len(PIECES)
    # <|channel|>analysis<|message|> + 3 text tokens are reasoning
    assert counter.reasoning >= 6
    # ...final<|message|>Hi there<|return|> are answer
    assert counter.answer >= 4
    assert parser.reasoning == "Thinking." and parser.answer == "Hi there"


def test_mixed_step_splits_between_reasoning_and_answer():
    counter = TokenCounter()
    counter.add([])
    counter.add([ReasoningDelta("a"), AnswerDelta("b")])
    assert (counter.reasoning, counter.answer) == (1, 1)
