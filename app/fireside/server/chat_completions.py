"""POST /v1/chat/completions: OpenAI's Chat Completions, streaming (SSE) and not.

Reasoning goes out in `reasoning_content` (what DeepSeek-style clients read) and `reasoning`
(Ollama, LM Studio) and is accepted back from either on assistant messages; tool calls follow
OpenAI's `tool_calls` shape, with finish reason `tool_calls`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fireside.core.chat.conversation import Effort
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.chat.openai_format import messages_from_openai
from fireside.core.chat.session import Failed
from fireside.server.errors import ApiError, bad
from fireside.server.parsing import (
    effort_of,
    json_schema_of,
    model_of,
    obj,
    openai_format,
    positive_int,
    sampling_of,
    stops_of,
    tool_choice_of,
    tools_of,
)
from fireside.server.turns import TurnSpec, new_id

FINISH = {"end": "stop", "cancelled": "stop", "length": "length", "context": "length",
          "tool_call": "tool_calls", "error": "stop"}


@dataclass(frozen=True)
class ChatCall:
    model: str
    spec: TurnSpec
    stream: bool
    include_usage: bool


def parse(body: Any, default_effort: Effort) -> ChatCall:
    body = obj(body)
    with openai_format():
        system, messages = messages_from_openai(body.get("messages"), builtin_python=False)
    instructions = [system] if system else []
    if not any(m.role in ("user", "tool") for m in messages):
        raise bad("messages must include a user message.", "messages")
    max_tokens = positive_int(body.get("max_completion_tokens"), "max_completion_tokens")
    if max_tokens is None:
        max_tokens = positive_int(body.get("max_tokens"), "max_tokens")
    n = body.get("n", 1)
    if n != 1:
        raise bad("Only n = 1 is supported: the server writes one reply per request.", "n")
    choice = tool_choice_of(body.get("tool_choice"), tools_of(body.get("tools")))
    if choice.instruction:
        instructions.append(choice.instruction)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream must be true or false.", "stream")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    spec = TurnSpec(
        messages=tuple(messages), instructions="\n\n".join(instructions),
        effort=effort_of(body.get("reasoning_effort"), "reasoning_effort", default_effort),
        max_tokens=max_tokens, sampling=sampling_of(body), tools=choice.tools,
        json_schema=json_schema_of(body.get("response_format"), "response_format"),
        stops=stops_of(body.get("stop")))
    return ChatCall(model_of(body), spec, stream, include_usage)


def usage(stats: ReplyStats) -> dict[str, Any]:
    completion = stats.reasoning_tokens + stats.answer_tokens
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": completion,
            "total_tokens": stats.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": stats.reused_prompt_tokens},
            "completion_tokens_details": {"reasoning_tokens": stats.reasoning_tokens}}


def _call(c: ToolCall) -> dict[str, Any]:
    return {"id": c.call_id, "type": "function",
            "function": {"name": c.function_name, "arguments": c.arguments}}


async def complete(events: AsyncIterator[object], model: str) -> dict[str, Any]:
    """The whole reply as one chat.completion object."""
    answer: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    stats = ReplyStats()
    async for event in events:
        if isinstance(event, AnswerDelta):
            answer.append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, ToolCall) and not event.incomplete:
            calls.append(event)
        elif isinstance(event, Done):
            stats = event.stats
        elif isinstance(event, Failed):
            raise ApiError(500, event.message)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(answer) or None,
                               "refusal": None}
    if reasoning:
        message["reasoning_content"] = message["reasoning"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [_call(c) for c in calls]
    finish = "tool_calls" if calls else FINISH.get(stats.stop_reason, "stop")
    return {"id": new_id("chatcmpl").replace("_", "-", 1), "object": "chat.completion",
            "created": int(time.time()),
            "model": model, "system_fingerprint": "fireside",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage(stats)}


async def stream(events: AsyncIterator[object], model: str, include_usage: bool,
                 ) -> AsyncIterator[bytes]:
    """The reply as chat.completion.chunk server-sent events, ending with `data: [DONE]`."""
    base = {"id": new_id("chatcmpl").replace("_", "-", 1), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "system_fingerprint": "fireside"}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    n_calls = 0
    async for event in events:
        if isinstance(event, AnswerDelta):
            yield chunk({"content": event.text})
        elif isinstance(event, ReasoningDelta):
            yield chunk({"reasoning_content": event.text, "reasoning": event.text})
        elif isinstance(event, ToolCall) and not event.incomplete:
            yield chunk({"tool_calls": [{"index": n_calls, **_call(event)}]})
            n_calls += 1
        elif isinstance(event, Done):
            finish = "tool_calls" if n_calls else FINISH.get(event.stats.stop_reason, "stop")
            yield chunk({}, finish)
            if include_usage:
                body = {**base, "choices": [], "usage": usage(event.stats)}
                yield b"data: " + json.dumps(body).encode() + b"\n\n"
        elif isinstance(event, Failed):
            yield b"data: " + json.dumps(ApiError(500, event.message).body()).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
