"""One API turn as the conversation service runs it, on the engine thread.

Both APIs parse their request into a `TurnSpec`; `work_for` turns it into the job's work: the
sampling the model needs (known only once its model is loaded), a context check that answers 400
instead of streaming a failure, `ChatSession.complete` (nothing is saved in the window's history),
and `stop` sequences, which llama.cpp's loop does not know: the answer is held back by the
longest stop's length, cut where one appears, and the reply stopped at once.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fireside.core.chat.conversation import Effort, FunctionTool, Message
from fireside.core.chat.events import AnswerDelta, Done, ToolCall
from fireside.core.chat.session import ChatSession, TurnEvent, TurnOptions, build_request
from fireside.core.engine.protocol import ContextOverflow, EngineError
from fireside.server.engine_access import Rejected, Work
from fireside.server.parsing import SamplingAsked


@dataclass(frozen=True)
class TurnSpec:
    messages: tuple[Message, ...]
    instructions: str = ""
    effort: Effort = Effort.MEDIUM
    max_tokens: int | None = None
    sampling: SamplingAsked = field(default_factory=SamplingAsked)
    tools: tuple[FunctionTool, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    stops: tuple[str, ...] = ()


def new_id(prefix: str) -> str:
    """OpenAI's id shape: a prefix and 48 hex digits ("resp_6879…", "call_…")."""
    return f"{prefix}_{secrets.token_hex(24)}"


def work_for(spec: TurnSpec) -> Work:
    def work(session: ChatSession, cancel: threading.Event) -> Iterator[TurnEvent | Rejected]:
        engine = session.engine
        info = engine.info
        if info is None:
            yield Rejected("No model is loaded.")
            return
        options = TurnOptions(effort=spec.effort, max_tokens=spec.max_tokens,
                              sampling=spec.sampling.for_model(info.is_harmony),
                              system_prompt=spec.instructions, tools=spec.tools,
                              json_schema=spec.json_schema,
                              # the client runs its own functions: a call ends the reply
                              client_functions=frozenset(t.name for t in spec.tools))
        request = build_request(spec.messages, spec.instructions, options)
        try:
            n = engine.count_prompt_tokens(request)
        except (EngineError, ValueError) as exc:
            yield Rejected(str(exc))
            return
        if n >= info.n_ctx - 1:
            yield Rejected(str(ContextOverflow.for_prompt(n, info.n_ctx)), "context_length_exceeded")
            return
        events = with_call_ids(session.complete(spec.messages, options, None, cancel))
        yield from cut_at_stops(events, spec.stops, cancel) if spec.stops else events

    return work


def with_call_ids(events: Iterator[TurnEvent]) -> Iterator[TurnEvent]:
    """Harmony has no call ids; the API's clients answer a call by its id."""
    for event in events:
        if isinstance(event, ToolCall) and not event.call_id:
            event = replace(event, call_id=new_id("call"))
        yield event


def cut_at_stops(events: Iterator[TurnEvent], stops: tuple[str, ...],
                 cancel: threading.Event) -> Iterator[TurnEvent]:
    hold = max(len(s) for s in stops) - 1
    pending = ""
    stopped = False
    for event in events:
        if isinstance(event, AnswerDelta):
            if stopped:
                continue
            pending += event.text
            hits = [i for i in (pending.find(s) for s in stops) if i >= 0]
            if hits:
                if min(hits):
                    yield AnswerDelta(pending[: min(hits)])
                pending, stopped = "", True
                cancel.set()  # the engine stops before its next token
                continue
            if len(pending) > hold:
                cut = len(pending) - hold
                yield AnswerDelta(pending[:cut])
                pending = pending[cut:]
            continue
        if isinstance(event, Done):
            if pending:
                yield AnswerDelta(pending)
                pending = ""
            if stopped:
                event = Done(replace(event.stats, stop_reason="end"))
        yield event
