"""Shared fakes. ScriptedEngine plays a fixed reply so GUI tests are deterministic and fast.

It implements the Engine protocol the same way LlamaEngine does where the UI can tell: load()
raises ModelLoadError with a readable message, stream() raises EngineError only before the first
event, honours `cancel` between pieces and always ends with exactly one Done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fireside.core.chat.conversation import ChatRequest
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.engine.protocol import ContextOverflow, EngineError, LoadConfig, ModelInfo, ModelLoadError

DEFAULT_REASONING: tuple[str, ...] = ("The user", " greets me.", " I should", " greet back.")
DEFAULT_ANSWER: tuple[str, ...] = ("Hello", " there!", " How can", " I help?")
PLAIN_NOTE = "This model has no chat template, so Fireside talks to it as a plain transcript."


def render_plain(request: ChatRequest) -> str:
    """A transcript prompt for non-harmony scripted models (no control tokens involved)."""
    lines = [request.system_prompt] if request.system_prompt else []
    lines += [f"{m.role.capitalize()}: {m.text}" for m in request.messages]
    return "\n".join([*lines, "Assistant:"])


@dataclass
class ScriptedEngine:
    """Plays `reasoning` then `answer` pieces; optionally pauses on `gate` to let a test press Stop.

    Construct it in the test and hand `lambda: engine` to the window: the worker thread then owns
    it, and the test reads `prompts` / `loads` once the matching signal has arrived.
    """

    reasoning: Sequence[str] = DEFAULT_REASONING
    answer: Sequence[str] = DEFAULT_ANSWER
    prompt_format: str = "harmony"
    note: str = ""
    n_ctx: int = 8192
    fail_paths: dict[str, str] = field(default_factory=dict)  # path -> ModelLoadError text
    gate: threading.Event | None = None  # when set up, stream waits here after `gate_after` pieces
    gate_after: int = 2
    gate_timeout_s: float = 10.0
    stream_error: Exception | None = None  # raised after `error_after` pieces
    error_after: int = 0
    ttft_s: float = 0.41
    tokens_per_s: float = 23.5
    token_counts: tuple[int, int] | None = None  # (reasoning, answer) to report instead of pieces
    # Tool calls to make, one list per stream() call in order: a non-empty list ends that step
    # with the calls and stop reason "tool_call" (after the reasoning), as LlamaEngine does.
    tool_steps: list[list[ToolCall]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)  # the ones that were generated from
    loads: list[str] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)  # names of the threads that called the engine
    reached_gate: threading.Event = field(default_factory=threading.Event)
    _info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def load(self, path: str, config: LoadConfig | None = None) -> ModelInfo:
        self.loads.append(path)
        self.threads.add(threading.current_thread().name)
        if path in self.fail_paths:
            raise ModelLoadError(self.fail_paths[path])
        config = config or LoadConfig()
        self._info = ModelInfo(
            path=path,
            name=Path(path).stem,
            architecture="gpt-oss" if self.prompt_format == "harmony" else "llama",
            prompt_format=self.prompt_format,
            n_ctx=min(config.n_ctx or self.n_ctx, self.n_ctx),  # 0: the planner's pick
            n_ctx_train=131072,
            size_bytes=12_100_000_000,
            note=self.note,
        )
        return self._info

    def render_prompt(self, request: ChatRequest) -> str:
        if self.prompt_format == "harmony":
            from fireside.core.chat.harmony import render_prompt

            return render_prompt(request)
        return render_plain(request)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """About four characters a token, like the prompt_tokens this engine reports."""
        return max(1, len(self.render_prompt(request)) // 4)

    def stream(self, request: ChatRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        self.threads.add(threading.current_thread().name)
        if self._info is None:
            raise EngineError("No model is loaded. Open a model file first.")
        tokens, n_ctx = self.count_prompt_tokens(request), self._info.n_ctx
        if tokens >= n_ctx - 1:  # as LlamaEngine does
            raise ContextOverflow.for_prompt(tokens, n_ctx)  # the engine's own words
        self.requests.append(request)
        self.prompts.append(self.render_prompt(request))
        calls = self.tool_steps.pop(0) if self.tool_steps else []
        # the adapters that produced the reply, as LlamaEngine names them (scale 0 produces nothing)
        adapters = tuple(a.label for a in request.adapters if a.scale != 0)
        return self._play(cancel or threading.Event(), calls, adapters)

    def _play(self, cancel: threading.Event, calls: list[ToolCall],
              adapters: tuple[str, ...] = ()) -> Iterator[Event]:
        pieces: list[Event] = [ReasoningDelta(t) for t in self.reasoning]
        pieces += list(calls) if calls else [AnswerDelta(t) for t in self.answer]
        counts = {ReasoningDelta: 0, AnswerDelta: 0, ToolCall: 0}
        stop_reason = "tool_call" if calls else "end"
        for i, piece in enumerate(pieces):
            if self.stream_error is not None and i == self.error_after:
                raise self.stream_error
            if self.gate is not None and i == self.gate_after:
                self._wait_at_gate(cancel)
            if cancel.is_set():
                stop_reason = "cancelled"
                break
            counts[type(piece)] += 1
            yield piece
        yield Done(
            ReplyStats(
                ttft_s=self.ttft_s,
                tokens_per_s=self.tokens_per_s,
                prompt_tokens=max(1, len(self.prompts[-1]) // 4),
                reasoning_tokens=self.token_counts[0] if self.token_counts else counts[ReasoningDelta],
                answer_tokens=self.token_counts[1] if self.token_counts else counts[AnswerDelta],
                reasoning_s=1.25 if counts[ReasoningDelta] and counts[AnswerDelta] else 0.0,
                total_s=2.0,
                stop_reason=stop_reason,
                adapters=adapters,
            )
        )

    def _wait_at_gate(self, cancel: threading.Event) -> None:
        """Block like a slow model would, but wake at once when the test opens the gate or stops."""
        assert self.gate is not None
        self.reached_gate.set()
        waited = 0.0
        while not (self.gate.is_set() or cancel.is_set()) and waited < self.gate_timeout_s:
            cancel.wait(0.005)  # sleep-ok: stands in for a model computing the next token
            waited += 0.005

    def unload(self) -> None:
        self._info = None
