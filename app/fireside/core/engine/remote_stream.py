"""Streams from an OpenAI-compatible server as Fireside events, with the figures for ReplyStats.

Chat Completions chunks: reasoning in `delta.reasoning_content` (vLLM, llama.cpp, Fireside) or
`delta.reasoning` (Ollama, LM Studio); the answer in `delta.content`; function calls in
`delta.tool_calls`, assembled by index and emitted when the stream ends. Responses events, named
as OpenAI's gpt-oss reference server names them: `response.reasoning_text.delta` (or, from
OpenAI's own models, `response.reasoning_summary_text.delta`), `response.output_text.delta`,
`response.output_item.done` for a function call, `response.completed`/`.incomplete`/`.failed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fireside.core.chat.events import AnswerDelta, Event, ReasoningDelta, ReplyStats
from fireside.core.engine.remote_wire import tool_call_from_wire


class StreamFailed(Exception):
    """The server reported a failure inside an accepted stream (`response.failed`, `error`)."""


@dataclass
class Tally:
    """Timings and counts of one reply, filled in as the stream goes."""

    t_first: float = 0.0
    t_last: float = 0.0
    t_first_reason: float = 0.0
    t_first_answer: float = 0.0
    reason_chunks: int = 0
    answer_chunks: int = 0
    tool_chunks: int = 0
    prompt_tokens: int = -1  # -1: the server sent no usage
    completion_tokens: int = -1
    reasoning_tokens: int = -1
    stop: str = ""  # "end" | "length" | "tool_call" | "cut" (the stream ended without its end)

    def _tick(self) -> float:
        now = time.perf_counter()
        if not self.t_first:
            self.t_first = now
        self.t_last = now
        return now

    def reason(self) -> None:
        now = self._tick()
        self.reason_chunks += 1
        if not self.t_first_reason:
            self.t_first_reason = now

    def answer(self) -> None:
        now = self._tick()
        self.answer_chunks += 1
        if not self.t_first_answer:
            self.t_first_answer = now

    def tool(self) -> None:
        self._tick()
        self.tool_chunks += 1

    def usage(self, prompt: Any, completion: Any, reasoning: Any) -> None:
        if isinstance(prompt, int):
            self.prompt_tokens = prompt
        if isinstance(completion, int):
            self.completion_tokens = completion
        if isinstance(reasoning, int):
            self.reasoning_tokens = reasoning

    def stats(self, t_start: float, stop: str, message: str = "") -> ReplyStats:
        t_end = time.perf_counter()
        chunks = self.reason_chunks + self.answer_chunks + self.tool_chunks
        completion = self.completion_tokens if self.completion_tokens >= 0 else chunks
        if self.reasoning_tokens > 0 or (self.reasoning_tokens == 0 and not self.reason_chunks):
            reasoning = min(self.reasoning_tokens, completion)
        elif self.completion_tokens >= 0 and chunks:  # no breakdown: split by what streamed
            reasoning = round(completion * self.reason_chunks / chunks)
        else:
            reasoning = self.reason_chunks
        gen_s = self.t_last - self.t_first
        return ReplyStats(
            ttft_s=(self.t_first or t_end) - t_start,
            tokens_per_s=(completion - 1) / gen_s if completion > 1 and gen_s > 0 else 0.0,
            prompt_tokens=max(0, self.prompt_tokens),
            reasoning_tokens=reasoning,
            answer_tokens=max(0, completion - reasoning),
            reasoning_s=((self.t_first_answer or t_end) - self.t_first_reason)
            if self.t_first_reason else 0.0,
            total_s=t_end - t_start,
            stop_reason=stop,
            message=message,
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def chat_events(chunks: Iterable[Any], tally: Tally) -> Iterator[Event]:
    calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
    finish: str | None = None
    for chunk in chunks:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            details = getattr(usage, "completion_tokens_details", None)
            tally.usage(usage.prompt_tokens, usage.completion_tokens,
                        getattr(details, "reasoning_tokens", None) if details is not None else None)
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                extra = delta.model_extra or {}
                reasoning = _text(extra.get("reasoning_content")) or _text(extra.get("reasoning"))
                if reasoning:
                    tally.reason()
                    yield ReasoningDelta(reasoning)
                if delta.content:
                    tally.answer()
                    yield AnswerDelta(delta.content)
                for tc in delta.tool_calls or ():
                    tally.tool()
                    slot = calls.setdefault(tc.index, ["", "", ""])
                    if tc.id:
                        slot[0] = tc.id
                    if tc.function is not None:
                        slot[1] += tc.function.name or ""
                        slot[2] += tc.function.arguments or ""
            if choice.finish_reason:
                finish = choice.finish_reason
    if calls:
        for index in sorted(calls):
            call_id, name, arguments = calls[index]
            yield tool_call_from_wire(name, arguments, call_id or f"call_{index}")
        tally.stop = "tool_call"
    elif finish is None:
        tally.stop = "cut"
    else:
        tally.stop = "length" if finish == "length" else "end"


def responses_events(stream: Iterable[Any], tally: Tally) -> Iterator[Event]:
    full_reasoning = False  # a server sending reasoning_text too: its summary would repeat it
    called = finished = False
    for ev in stream:
        kind = getattr(ev, "type", "")
        if kind == "response.output_text.delta":
            tally.answer()
            yield AnswerDelta(ev.delta)
        elif kind == "response.reasoning_text.delta":
            full_reasoning = True
            tally.reason()
            yield ReasoningDelta(ev.delta)
        elif kind == "response.reasoning_summary_text.delta" and not full_reasoning:
            tally.reason()
            yield ReasoningDelta(ev.delta)
        elif kind == "response.function_call_arguments.delta":
            tally.tool()
        elif kind == "response.output_item.done" and getattr(ev.item, "type", "") == "function_call":
            item = ev.item
            tally.tool()
            called = True
            yield tool_call_from_wire(item.name, item.arguments, item.call_id or item.id or "")
        elif kind in ("response.completed", "response.incomplete"):
            response = ev.response
            usage = response.usage
            if usage is not None:
                details = getattr(usage, "output_tokens_details", None)
                tally.usage(usage.input_tokens, usage.output_tokens,
                            getattr(details, "reasoning_tokens", None) if details else None)
            finished = True
            if kind == "response.incomplete":
                reason = getattr(response.incomplete_details, "reason", "")
                tally.stop = "length" if reason == "max_output_tokens" else "end"
        elif kind == "response.failed":
            error = ev.response.error
            raise StreamFailed(getattr(error, "message", "") or "the server reported a failure")
        elif kind == "error":
            raise StreamFailed(getattr(ev, "message", "") or "the server reported an error")
    if called:
        tally.stop = "tool_call"
    elif not finished:
        tally.stop = "cut"
    elif not tally.stop:
        tally.stop = "end"
