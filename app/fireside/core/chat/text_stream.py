"""Stream parsers for models that do not speak harmony.

They share StreamParser's shape (feed/finish/done) so the engine treats every model alike.
"""

from __future__ import annotations

from fireside.core.chat.events import AnswerDelta, Event, ReasoningDelta

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def _held_suffix(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that could still grow into one of `markers`."""
    best = 0
    for m in markers:
        for n in range(min(len(m) - 1, len(text)), best, -1):
            if text.endswith(m[:n]):
                best = n
                break
    return best


class PlainStreamParser:
    """Answer text with stop strings (for base models) and <think> blocks routed to reasoning.

    Text that might be the start of a stop string or tag is held back until it is decided, so a
    stop string never flashes on screen and the result does not depend on how text was chunked.
    """

    def __init__(self, stops: tuple[str, ...] = ()) -> None:
        self.stops = tuple(s for s in stops if s)
        self.done = False
        self.reasoning = ""
        self.answer = ""
        self._buf = ""
        self._thinking = False
        self._seen_text = False

    def _emit(self, text: str, out: list[Event]) -> None:
        if not text:
            return
        if self._thinking:
            self.reasoning += text
            out.append(ReasoningDelta(text))
        else:
            if not self.answer:
                text = text.lstrip()  # "Assistant: Hi" -> "Hi"
                if not text:
                    return
            self.answer += text
            out.append(AnswerDelta(text))

    def feed(self, text: str) -> list[Event]:
        out: list[Event] = []
        if self.done:
            return out
        self._buf += text
        while self._buf and not self.done:
            markers = (THINK_CLOSE,) if self._thinking else self.stops
            if not self._seen_text:
                stripped = self._buf.lstrip()
                if not stripped:
                    return out
                if THINK_OPEN.startswith(stripped) and len(stripped) < len(THINK_OPEN):
                    return out  # might still become <think>
                self._seen_text = True
                if stripped.startswith(THINK_OPEN):
                    self._thinking = True
                    self._buf = stripped[len(THINK_OPEN):]
                    continue
            hits = [(self._buf.find(m), m) for m in markers if m in self._buf]
            if hits:
                at, marker = min(hits)
                self._emit(self._buf[:at], out)
                self._buf = self._buf[at + len(marker):]
                if self._thinking:
                    self._thinking = False
                    self._buf = self._buf.lstrip("\n")
                else:
                    self.done = True
                    self._buf = ""
                continue
            hold = _held_suffix(self._buf, markers)
            self._emit(self._buf[: len(self._buf) - hold], out)
            self._buf = self._buf[len(self._buf) - hold:]
            break
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if not self.done and self._buf:
            self._emit(self._buf, out)
        self._buf = ""
        return out
