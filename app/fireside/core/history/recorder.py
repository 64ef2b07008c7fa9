"""Write a streaming reply to the store as it grows, so a crash loses at most about a second.

Every front end's replies go through this one class (the conversation service records them), so
the flush policy is decided in one place: keep the text in memory (`ReplyText`, which the
service's step of the reply shares, so the text is held once), and commit it to the partial row
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


class ReplyText:
    """A streaming reply's answer and reasoning as they grow: pieces kept as they came, joined
    only when read (and kept joined, so the next read starts from one piece)."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self.version = 0  # grows with every change, so a reader knows whether it has seen it all

    @property
    def text(self) -> str:
        if len(self._text) > 1:
            self._text = ["".join(self._text)]
        return self._text[0] if self._text else ""

    @property
    def reasoning(self) -> str:
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0] if self._reasoning else ""

    def add(self, reasoning: str = "", answer: str = "") -> None:
        if reasoning:
            self._reasoning.append(reasoning)
        if answer:
            self._text.append(answer)
        if reasoning or answer:
            self.version += 1

    def replace(self, text: str, reasoning: str) -> None:
        if text != self.text or reasoning != self.reasoning:
            self._text, self._reasoning = [text], [reasoning]
            self.version += 1


class ReplyRecorder:
    """Flushes one reply's text (`reply`, shared with whoever adds to it) to its partial row in
    `store`, at most every `interval_s`."""

    def __init__(self, store: Store, message_id: int, interval_s: float = FLUSH_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, reply: ReplyText | None = None) -> None:
        self.store = store
        self.message_id = message_id
        self.interval_s = interval_s
        self._clock = clock
        self.reply = reply if reply is not None else ReplyText()
        self._flushed_version = self.reply.version
        self._last_flush = clock()
        self._last_durable = float("-inf")  # the first flush is durable: the reply exists on disk
        self.flushes = 0
        self.finished = False

    @property
    def text(self) -> str:
        return self.reply.text

    @property
    def reasoning(self) -> str:
        return self.reply.reasoning

    def add(self, reasoning: str = "", answer: str = "") -> bool:
        """Take more of the reply; returns True when this call flushed to disk."""
        self.reply.add(reasoning, answer)
        return self.flush_if_due()

    def replace(self, text: str, reasoning: str) -> bool:
        """Take the whole reply so far (when the caller keeps it whole); flushes like add()."""
        self.reply.replace(text, reasoning)
        return self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Flush when the reply changed and `interval_s` has passed; True when it flushed."""
        due = self._clock() - self._last_flush >= self.interval_s
        if due and self.reply.version != self._flushed_version:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if self.reply.version == self._flushed_version or self.finished:
            return
        version, text, reasoning = self.reply.version, self.reply.text, self.reply.reasoning
        now = self._clock()
        durable = now - self._last_durable >= DURABLE_EVERY_S
        self.store.update_partial(self.message_id, text, reasoning, durable=durable)
        if durable:
            self._last_durable = now
        self._flushed_version = version
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
        if text is not None or reasoning is not None:
            self.reply.replace(self.text if text is None else text,
                               self.reasoning if reasoning is None else reasoning)
        self.store.finish(self.message_id, self.text, self.reasoning, stats, status, tool_calls)
        self.finished = True
