"""Leaving out the middle of a conversation so the next reply fits the context."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fireside.core.chat.context_fit import MIN_REPLY_TOKENS, fit_to_context, reply_reserve
from fireside.core.chat.conversation import ChatRequest, Message


def words(request: ChatRequest) -> int:
    """A stand-in tokenizer: one token per word, plus the system prompt and 3 per message."""
    return len(request.system_prompt.split()) + sum(3 + len(m.text.split()) for m in request.messages)


def chat(turns: int, size: int = 50) -> ChatRequest:
    messages: list[Message] = []
    for n in range(turns):
        messages.append(Message("user", f"question {n} " + "q " * size))
        messages.append(Message("assistant", f"answer {n} " + "a " * size, reasoning="r " * 999))
    messages.append(Message("user", "the newest question"))
    return ChatRequest(tuple(messages), system_prompt="Be brief and kind.")


def test_keeps_system_prompt_and_the_most_recent_turns_that_fit() -> None:
    request = chat(20)
    assert words(request) > 2_000
    fit = fit_to_context(request, words, n_ctx=2_000, reserve=500)
    assert fit is not None
    assert fit.request.system_prompt == "Be brief and kind."
    assert fit.request.messages == request.messages[fit.dropped:]  # a suffix: the recent turns
    assert fit.request.messages[0].role == "user"  # never an answer without its question
    assert fit.prompt_tokens == words(fit.request) <= 2_000 - 500
    # The fewest left out: one more turn back would not have fitted.
    longer = request.messages[fit.dropped - 2:]
    assert words(ChatRequest(longer, system_prompt=request.system_prompt)) > 1_500


def test_a_last_message_too_long_for_any_context_cannot_be_fitted() -> None:
    request = ChatRequest((Message("user", "hi"), Message("assistant", "hello"),
                           Message("user", "x " * 5_000)))
    assert fit_to_context(request, words, n_ctx=4_096) is None
    assert fit_to_context(ChatRequest((Message("user", "x " * 5_000),)), words, n_ctx=4_096) is None


def test_the_last_turn_alone_may_use_a_smaller_reserve() -> None:
    request = ChatRequest((Message("user", "old"), Message("assistant", "reply"),
                           Message("user", "y " * 3_500)))
    fit = fit_to_context(request, words, n_ctx=4_096)  # reserve would be 1,024
    assert fit is not None and fit.dropped == 2
    assert fit.prompt_tokens <= 4_096 - MIN_REPLY_TOKENS


def test_reserve_is_a_quarter_within_bounds() -> None:
    assert reply_reserve(512) == MIN_REPLY_TOKENS
    assert reply_reserve(8_192) == 2_048
    assert reply_reserve(131_072) == 4_096


@given(sizes=st.lists(st.integers(0, 300), min_size=2, max_size=40), n_ctx=st.integers(300, 6_000))
def test_the_fit_is_the_longest_suffix_that_fits(sizes: list[int], n_ctx: int) -> None:
    messages = tuple(Message("user" if n % 2 == 0 else "assistant", "w " * size)
                     for n, size in enumerate(sizes))
    if messages[-1].role != "user":
        messages = (*messages, Message("user", "last"))
    request = ChatRequest(messages)
    reserve = reply_reserve(n_ctx)
    fit = fit_to_context(request, words, n_ctx)
    suffixes = [k for k in range(1, len(messages)) if messages[k].role == "user"
                and words(ChatRequest(messages[k:])) <= n_ctx - reserve]
    if suffixes:
        assert fit is not None and fit.dropped == min(suffixes)
    elif fit is not None:  # only the last turn, with the smaller reserve
        assert fit.dropped == len(messages) - 1
        assert fit.prompt_tokens <= n_ctx - MIN_REPLY_TOKENS
