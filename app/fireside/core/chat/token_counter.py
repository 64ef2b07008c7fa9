"""Per-reply token accounting: which generated tokens were reasoning and which were answer."""

from __future__ import annotations

from fireside.core.chat.events import AnswerDelta, Event, ReasoningDelta


class TokenCounter:
    """Attribute every generated token to reasoning or answer.

    The parser holds back text it cannot yet place (a possible header or stop string), and header
    tokens produce no text at all, so tokens are attributed when their text is finally placed:
    header tokens count towards the message they open. Reasoning + answer = tokens generated.
    """

    def __init__(self) -> None:
        self.reasoning = self.answer = 0
        self._pending = 0
        self._last_reasoning = False

    def add(self, events: list[Event], final: bool = False) -> None:
        if not final:
            self._pending += 1
        content = (e for e in events if isinstance(e, ReasoningDelta | AnswerDelta))
        kinds = [isinstance(e, ReasoningDelta) for e in content]
        if not kinds:
            if final:
                self._assign(self._last_reasoning)
            return
        if kinds[0] and not all(kinds):  # reasoning then answer in one step: split it
            self.reasoning += max(self._pending - 1, 0)
            self._pending = min(self._pending, 1)
            self._assign(False)
            self._last_reasoning = False
            return
        self._last_reasoning = kinds[-1]
        self._assign(kinds[-1])

    def _assign(self, reasoning: bool) -> None:
        if reasoning:
            self.reasoning += self._pending
        else:
            self.answer += self._pending
        self._pending = 0
