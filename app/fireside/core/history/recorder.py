"""Write a streaming reply to the store as it grows, so a crash loses at most about a second.

Both the terminal (`fireside chat`) and the window feed replies through this one class, so the
flush policy is decided in one place: keep the text in memory, and commit it to the partial row
when at least `interval_s` has passed since the last commit. Half a second keeps the promise of
"at most a second lost" with room to spare, while a 50,000-token reply costs about two small
commits a second rather than one per token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fireside.core.chat.events import ToolCall
from fireside.core.history.store import Store

FLUSH_INTERVAL_S = 0.5
DURABLE_EVERY_S = 5.0  # a flush that also waits for the disk, so a power cut loses at most this


class ReplyRecorder:
    """Accumulates one reply's deltas and flushes them to its partial row in `store`."""

    def __init__(self, store: Store, message_id: int, interval_s: float = FLUSH_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.message_id = message_id
        self.interval_s = interval_s
        self._clock = clock
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._dirty = False
        self._last_flush = clock()
        self._last_durable = float("-inf")  # the first flush is durable: the reply exists on disk
        self.flushes = 0
        self.finished = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    def add(self, reasoning: str = "", answer: str = "") -> bool:
        """Take more of the reply; returns True when this call flushed to disk."""
        if reasoning:
            self._reasoning.append(reasoning)
        if answer:
            self._text.append(answer)
        self._dirty = self._dirty or bool(reasoning or answer)
        if self._dirty and self._clock() - self._last_flush >= self.interval_s:
            self.flush()
            return True
        return False

    def replace(self, text: str, reasoning: str) -> bool:
        """Take the whole reply so far (the window keeps it whole already); flushes like add()."""
        if text != self.text or reasoning != self.reasoning:
            self._text, self._reasoning = [text], [reasoning]
            self._dirty = True
        if self._dirty and self._clock() - self._last_flush >= self.interval_s:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if not self._dirty or self.finished:
            return
        # Join once per flush, and keep the joined string so the next join starts from one piece.
        text, reasoning = self.text, self.reasoning
        self._text, self._reasoning = [text], [reasoning]
        now = self._clock()
        durable = now - self._last_durable >= DURABLE_EVERY_S
        self.store.update_partial(self.message_id, text, reasoning, durable=durable)
        if durable:
            self._last_durable = now
        self._dirty = False
        self._last_flush = now
        self.flushes += 1

    def finish(self, stats: dict[str, Any] | None = None, status: str = "done",
               text: str | None = None, reasoning: str | None = None,
               tool_calls: tuple[ToolCall, ...] = ()) -> None:
        """Write the whole reply with its stats and final status ("done", "cancelled", "error"),
        and the tool calls it ended with; `text` / `reasoning`, when given, replace what was
        accumulated."""
        if self.finished:
            return
        if text is not None:
            self._text = [text]
        if reasoning is not None:
            self._reasoning = [reasoning]
        self.store.finish(self.message_id, self.text, self.reasoning, stats, status, tool_calls)
        self.finished = True
