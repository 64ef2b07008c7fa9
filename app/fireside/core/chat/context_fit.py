"""Making a conversation fit the model's context by leaving out its middle.

When the next prompt would not fit, the user chooses between stopping and this: keep the system
prompt (it is outside the message list) and as many of the most recent turns as fit, leaving out
the oldest turns in between, and keep room for the reply. The conversation itself is untouched;
only the request for this one reply is shortened. Cuts fall at the start of a user message, so
the model never sees an answer without its question.

Counting tokens means rendering and tokenizing the prompt, so the search is a bisection over
the cut points: a 500-message chat needs about nine counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from fireside.core.chat.conversation import ChatRequest

MIN_REPLY_TOKENS = 256
MAX_RESERVE_TOKENS = 4096


def reply_reserve(n_ctx: int) -> int:
    """Room kept for the reply (reasoning included): a quarter of the context, within bounds."""
    return max(MIN_REPLY_TOKENS, min(MAX_RESERVE_TOKENS, n_ctx // 4))


@dataclass(frozen=True)
class Fit:
    request: ChatRequest  # the shortened request
    dropped: int  # how many of the oldest messages were left out
    prompt_tokens: int  # the shortened prompt's size


@dataclass(frozen=True)
class Overflow:
    """What the UI needs to offer the choice: the engine's message, sizes, and the fit if any."""

    message: str
    prompt_tokens: int
    n_ctx: int
    fit: Fit | None  # None: even the last message alone does not fit


def fit_to_context(request: ChatRequest, count_tokens: Callable[[ChatRequest], int], n_ctx: int,
                   reserve: int | None = None) -> Fit | None:
    """The request with the fewest oldest messages left out that fits `n_ctx` with `reserve` tokens
    to spare; None when nothing fits. Leaves at least one message out (the full request is the one
    that did not fit)."""
    messages = request.messages
    cuts = [k for k in range(1, len(messages)) if messages[k].role == "user"]
    if not cuts:
        return None
    reserve = reply_reserve(n_ctx) if reserve is None else reserve

    def trimmed(k: int) -> ChatRequest:
        return replace(request, messages=messages[k:])

    counts: dict[int, int] = {}

    def count(k: int) -> int:
        if k not in counts:
            counts[k] = count_tokens(trimmed(k))
        return counts[k]

    budget = n_ctx - reserve
    lo, hi = 0, len(cuts) - 1  # find the first cut that fits; later cuts are shorter still
    if count(cuts[hi]) > budget:
        # Not even the last turn leaves the full reserve: accept a smaller one for it alone.
        last = cuts[hi]
        if count(last) <= n_ctx - MIN_REPLY_TOKENS:
            return Fit(trimmed(last), last, count(last))
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if count(cuts[mid]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    k = cuts[lo]
    return Fit(trimmed(k), k, count(k))
