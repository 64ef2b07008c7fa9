"""A ChatRequest as the OpenAI APIs spell it: Chat Completions messages and Responses input items.

Pure functions, no network: remote_engine.py sends what these build. Both shapes follow OpenAI's
own field names, so any compatible server (vLLM, llama.cpp's server, Ollama, LM Studio, Azure AI
Foundry, another Fireside) reads them.

- History: an assistant message with `tool_calls` becomes Chat Completions `tool_calls` (Responses:
  `function_call` items), each "tool" message a `tool` message (`function_call_output`).
- Reasoning goes back only where gpt-oss needs it, the analysis before tool calls of the turn in
  progress (harmony drops earlier turns' analysis): `reasoning_content` on the assistant message
  (Chat Completions; the field vLLM, llama.cpp and Fireside's server read) or a `reasoning` item
  with `reasoning_text` content (Responses, as OpenAI's gpt-oss reference server reads it).
- The built-in python tool has no OpenAI wire form for function-calling servers, so it is offered
  as a function `python(code)`; a call to it comes back as harmony's recipient "python".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fireside.core.chat.conversation import ChatRequest, FunctionTool, Message
from fireside.core.chat.events import ToolCall

PYTHON = "python"
PYTHON_TOOL = FunctionTool(
    name=PYTHON,
    description="Run Python code in a sandbox with no network and return what it prints.",
    parameters={"type": "object", "properties": {"code": {"type": "string",
                                                          "description": "the program to run"}},
                "required": ["code"]},
)
SCHEMA_NAME = "answer"

Json = dict[str, Any]


def _offered(request: ChatRequest) -> tuple[FunctionTool, ...]:
    return (*request.tools, PYTHON_TOOL) if request.python_tool else request.tools


def _wire_name(call: ToolCall) -> str:
    return PYTHON if call.recipient == PYTHON else call.function_name


def _wire_arguments(call: ToolCall) -> str:
    return json.dumps({"code": call.arguments}) if call.recipient == PYTHON else call.arguments


def tool_call_from_wire(name: str, arguments: str, call_id: str) -> ToolCall:
    """A function call from the server as the event the tool loop runs (harmony's recipients)."""
    if name == PYTHON:
        try:
            code = json.loads(arguments or "{}").get("code", "")
        except (ValueError, AttributeError):
            code = arguments
        return ToolCall(recipient=PYTHON, arguments=str(code), channel="analysis", call_id=call_id)
    return ToolCall(recipient=f"functions.{name}", arguments=arguments or "{}",
                    content_type="json", call_id=call_id)


def _current_turn_start(messages: tuple[Message, ...]) -> int:
    """Index of the last user message: reasoning after it belongs to the turn in progress."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return i
    return 0


def _parameters(tool: FunctionTool) -> Mapping[str, Any]:
    return tool.parameters or {"type": "object", "properties": {}}


# -- Chat Completions --------------------------------------------------------------------------
def chat_messages(request: ChatRequest, *, send_reasoning: bool = True) -> list[Json]:
    out: list[Json] = []
    if request.system_prompt:
        out.append({"role": "system", "content": request.system_prompt})
    turn = _current_turn_start(request.messages)
    for i, m in enumerate(request.messages):
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.call_id, "content": m.text})
        elif m.role == "assistant":
            msg: Json = {"role": "assistant", "content": m.text or None}
            if m.tool_calls:
                msg["tool_calls"] = [
                    {"id": c.call_id, "type": "function",
                     "function": {"name": _wire_name(c), "arguments": _wire_arguments(c)}}
                    for c in m.tool_calls]
            elif msg["content"] is None:
                msg["content"] = ""
            if send_reasoning and m.reasoning and i > turn:
                msg["reasoning_content"] = m.reasoning
            out.append(msg)
        else:  # user, developer
            out.append({"role": m.role, "content": m.text})
    return out


def chat_body(request: ChatRequest, model: str, *, send_effort: bool = True,
              send_reasoning: bool = True, usage: bool = True) -> Json:
    """Keyword arguments for `client.chat.completions.create` (stream on)."""
    body: Json = {"model": model, "messages": chat_messages(request, send_reasoning=send_reasoning),
                  "stream": True}
    if usage:
        body["stream_options"] = {"include_usage": True}
    if send_effort:
        body["reasoning_effort"] = request.effort.value
    if request.max_tokens and request.max_tokens > 0:
        body["max_tokens"] = request.max_tokens
    s = request.sampling
    if s is not None:
        body["temperature"] = s.temperature
        body["top_p"] = s.top_p
        if s.seed is not None:
            body["seed"] = s.seed
    tools = _offered(request)
    if tools:
        body["tools"] = [{"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": dict(_parameters(t))}}
            for t in tools]
    if request.json_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": SCHEMA_NAME, "schema": dict(request.json_schema)}}
    return body


# -- Responses ---------------------------------------------------------------------------------
def responses_input(request: ChatRequest, *, send_reasoning: bool = True) -> list[Json]:
    out: list[Json] = []
    turn = _current_turn_start(request.messages)
    for i, m in enumerate(request.messages):
        if m.role == "tool":
            out.append({"type": "function_call_output", "call_id": m.call_id, "output": m.text})
        elif m.role == "assistant":
            if send_reasoning and m.reasoning and i > turn:
                out.append({"type": "reasoning", "summary": [],
                            "content": [{"type": "reasoning_text", "text": m.reasoning}]})
            if m.text:
                out.append({"role": "assistant", "content": m.text})
            for c in m.tool_calls:
                out.append({"type": "function_call", "call_id": c.call_id, "name": _wire_name(c),
                            "arguments": _wire_arguments(c)})
        else:
            out.append({"role": m.role, "content": m.text})
    return out


def responses_body(request: ChatRequest, model: str, *, send_effort: bool = True,
                   send_reasoning: bool = True) -> Json:
    """Keyword arguments for `client.responses.create` (stream on, nothing stored server-side:
    Fireside keeps the history itself and resends it)."""
    body: Json = {"model": model, "input": responses_input(request, send_reasoning=send_reasoning),
                  "stream": True, "store": False}
    if request.system_prompt:
        body["instructions"] = request.system_prompt
    if send_effort:
        body["reasoning"] = {"effort": request.effort.value}
    if request.max_tokens and request.max_tokens > 0:
        body["max_output_tokens"] = request.max_tokens
    s = request.sampling
    if s is not None:
        body["temperature"] = s.temperature
        body["top_p"] = s.top_p
    tools = _offered(request)
    if tools:
        body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                          "parameters": dict(_parameters(t)), "strict": False} for t in tools]
    if request.json_schema is not None:
        body["text"] = {"format": {"type": "json_schema", "name": SCHEMA_NAME,
                                   "schema": dict(request.json_schema)}}
    return body
