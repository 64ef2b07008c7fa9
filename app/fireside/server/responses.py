"""POST /v1/responses: OpenAI's Responses API, with the event stream of its gpt-oss reference
server (`openai/gpt-oss`, `gpt_oss/responses_api/api_server.py`): `response.created`,
`response.in_progress`, then per output item `response.output_item.added`, its content part
(`response.content_part.added`, `response.reasoning_text.delta`/`.done` or
`response.output_text.delta`/`.done`, `response.content_part.done`) or its function call
arguments (`response.function_call_arguments.delta`/`.done`), `response.output_item.done`, and
finally `response.completed` (`response.failed` when the reply fails). Ids have OpenAI's shape:
`resp_`, `rs_`, `msg_`, `fc_`, `call_` and 48 hex digits.

The reference server sends a function call as a single `response.output_item.done`; here it is
also announced (`output_item.added`) and its arguments sent as one delta and a done, as OpenAI's
hosted API does, so clients written for either see what they expect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fireside.core.chat.conversation import Effort, Message
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.chat.openai_items import messages_from_items
from fireside.core.chat.session import Failed
from fireside.server.errors import bad
from fireside.server.parsing import (
    effort_of,
    json_schema_of,
    model_of,
    obj,
    openai_format,
    positive_int,
    sampling_of,
    tool_choice_of,
    tools_of,
)
from fireside.server.turns import TurnSpec, new_id


@dataclass(frozen=True)
class ResponsesCall:
    model: str
    stream: bool
    store: bool
    previous_response_id: str | None
    instructions: str | None
    input_items: list[dict[str, Any]]  # as sent, text input as one user message item
    body: dict[str, Any]
    effort: Effort


def parse(body: Any, default_effort: Effort) -> ResponsesCall:
    body = obj(body)
    raw = body.get("input")
    if isinstance(raw, str):
        items: list[dict[str, Any]] = [{"type": "message", "role": "user",
                                         "content": [{"type": "input_text", "text": raw}]}]
    elif isinstance(raw, list) and all(isinstance(i, dict) for i in raw):
        items = raw
    else:
        raise bad("input must be text or a list of items.", "input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad("instructions must be text.", "instructions")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise bad("previous_response_id must be a response id.", "previous_response_id")
    stream, store = body.get("stream", False), body.get("store", True)
    if not isinstance(stream, bool) or not isinstance(store, bool):
        raise bad("stream and store must be true or false.", "stream" if not isinstance(stream, bool)
                  else "store")
    reasoning = body.get("reasoning") or {}
    if not isinstance(reasoning, dict):
        raise bad("reasoning must be an object.", "reasoning")
    effort = effort_of(reasoning.get("effort"), "reasoning.effort", default_effort)
    return ResponsesCall(model_of(body), stream, store, previous, instructions, items, body, effort)


def spec_for(call: ResponsesCall, items: list[dict[str, Any]], instructions: str | None) -> TurnSpec:
    """The turn for `items` (the previous response's input and output, then this input)."""
    body = call.body
    extra: list[str] = [instructions] if instructions else []
    messages = messages_of(items, extra)
    if not any(m.role in ("user", "tool") for m in messages):
        raise bad("input must include a user message or a function call output.", "input")
    choice = tool_choice_of(body.get("tool_choice"), tools_of(body.get("tools")))
    if choice.instruction:
        extra.append(choice.instruction)
    text = body.get("text") or {}
    if not isinstance(text, dict):
        raise bad("text must be an object.", "text")
    return TurnSpec(messages=messages, instructions="\n\n".join(extra), effort=call.effort,
                    max_tokens=positive_int(body.get("max_output_tokens"), "max_output_tokens"),
                    sampling=sampling_of(body), tools=choice.tools,
                    json_schema=json_schema_of(text.get("format"), "text.format"))


def messages_of(items: list[dict[str, Any]], instructions: list[str]) -> tuple[Message, ...]:
    """Input items as the conversation service's messages (core's parser); leading system and
    developer items join `instructions`."""
    with openai_format():
        leading, messages = messages_from_items(items)
    instructions += leading
    return messages


def response_object(call: ResponsesCall, response_id: str, model: str,
                    instructions: str | None) -> dict[str, Any]:
    body = call.body
    fmt = (body.get("text") or {}).get("format") or {"type": "text"}
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()),
        "status": "in_progress", "background": False, "error": None, "incomplete_details": None,
        "instructions": instructions, "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None, "model": model, "output": [], "parallel_tool_calls": True,
        "previous_response_id": call.previous_response_id,
        "reasoning": {"effort": call.effort.value, "summary": None}, "service_tier": "auto",
        "store": call.store, "temperature": body.get("temperature", 1.0), "text": {"format": fmt},
        "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
        "top_logprobs": 0, "top_p": body.get("top_p", 1.0), "truncation": "disabled",
        "usage": None, "user": None, "metadata": body.get("metadata") or {},
    }


class ResponseBuilder:
    """Turns the service's events into Responses API events, and the final response object."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self._seq = 0
        self._open: dict[str, Any] | None = None  # the reasoning or message item being written
        self._text: list[str] = []

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def start(self) -> list[dict[str, Any]]:
        return [self._event("response.created", response=dict(self.response)),
                self._event("response.in_progress", response=dict(self.response))]

    @property
    def _index(self) -> int:
        return len(self.response["output"])

    def feed(self, event: object) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if isinstance(event, ReasoningDelta | AnswerDelta):
            kind = "reasoning" if isinstance(event, ReasoningDelta) else "message"
            if self._open is not None and self._open["type"] != kind:
                out += self._close()
            if self._open is None:
                out += self._begin(kind)
            assert self._open is not None
            self._text.append(event.text)
            delta = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
            extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
            out.append(self._event(delta, item_id=self._open["id"], output_index=self._index,
                                   content_index=0, delta=event.text, **extra))
        elif isinstance(event, ToolCall) and not event.incomplete:
            out += self._close()
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress",
                    "arguments": "", "call_id": event.call_id or new_id("call"),
                    "name": event.function_name}
            index = self._index
            out.append(self._event("response.output_item.added", output_index=index, item=dict(item)))
            out.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=index, delta=event.arguments))
            out.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                   output_index=index, arguments=event.arguments))
            item.update(arguments=event.arguments, status="completed")
            self.response["output"].append(item)
            out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def finish(self, stats: ReplyStats) -> list[dict[str, Any]]:
        out = self._close()
        r = self.response
        if stats.stop_reason in ("length", "context"):
            r["status"] = "incomplete"
            r["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            r["status"] = "completed"
        output_tokens = stats.reasoning_tokens + stats.answer_tokens
        r["usage"] = {"input_tokens": stats.prompt_tokens,
                      "input_tokens_details": {"cached_tokens": stats.reused_prompt_tokens},
                      "output_tokens": output_tokens,
                      "output_tokens_details": {"reasoning_tokens": stats.reasoning_tokens},
                      "total_tokens": stats.prompt_tokens + output_tokens}
        out.append(self._event("response.completed", response=r))
        return out

    def fail(self, message: str) -> list[dict[str, Any]]:
        out = self._close()
        self.response["status"] = "failed"
        self.response["error"] = {"code": "server_error", "message": message}
        out.append(self._event("response.failed", response=self.response))
        return out

    def _begin(self, kind: str) -> list[dict[str, Any]]:
        index = self._index
        if kind == "reasoning":
            item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": [],
                                    "content": []}
            part: dict[str, Any] = {"type": "reasoning_text", "text": ""}
        else:
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress",
                    "content": [], "role": "assistant"}
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        self._open, self._text = item, []
        return [self._event("response.output_item.added", output_index=index, item=dict(item)),
                self._event("response.content_part.added", item_id=item["id"],
                            output_index=index, content_index=0, part=part)]

    def _close(self) -> list[dict[str, Any]]:
        item, self._open = self._open, None
        if item is None:
            return []
        text, index = "".join(self._text), self._index
        if item["type"] == "reasoning":
            part: dict[str, Any] = {"type": "reasoning_text", "text": text}
            done = [self._event("response.reasoning_text.done", item_id=item["id"],
                                output_index=index, content_index=0, text=text)]
        else:
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            done = [self._event("response.output_text.done", item_id=item["id"],
                                output_index=index, content_index=0, text=text, logprobs=[])]
            item["status"] = "completed"
        item["content"] = [part]
        done.append(self._event("response.content_part.done", item_id=item["id"],
                                output_index=index, content_index=0, part=part))
        self.response["output"].append(item)
        done.append(self._event("response.output_item.done", output_index=index, item=item))
        return done


def events_for(builder: ResponseBuilder, event: object) -> list[dict[str, Any]]:
    if isinstance(event, Done):
        return builder.finish(event.stats)
    if isinstance(event, Failed):
        return builder.fail(event.message)
    return builder.feed(event)
