"""OpenAI Chat Completions `messages` and `tools` arrays to the conversation's own shapes.

`fireside chat --messages FILE --tools FILE` reads them, and so can any front end that speaks the
OpenAI API. Every problem is a ValueError with a sentence that names the item at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fireside.core.chat.conversation import FunctionTool, Message
from fireside.core.chat.events import ToolCall

MAX_DEPTH = 64  # JSON nested deeper than this is not a conversation


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or the text parts of a content array."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") not in ("text", "input_text", "output_text"):
                raise ValueError(f"{where}: only text content is supported.")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise ValueError(f"{where}: content must be text or a list of text parts.")


def _calls(value: Any, where: str) -> tuple[ToolCall, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: tool_calls must be a list.")
    calls = []
    for n, call in enumerate(value, 1):
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValueError(f"{where}, tool call {n}: it needs a function with a name.")
        arguments = fn.get("arguments", "")
        if not isinstance(arguments, str):  # some clients send an object; harmony wants the text
            arguments = json.dumps(arguments, ensure_ascii=False)
        name = str(fn["name"])
        recipient = "python" if name == "python" else f"functions.{name}"
        channel, kind = ("analysis", "code") if name == "python" else ("commentary", "json")
        calls.append(ToolCall(recipient, arguments, channel, kind, str(call.get("id", ""))))
    return tuple(calls)


def messages_from_openai(data: Any) -> tuple[str, tuple[Message, ...]]:
    """(system prompt, messages) from an OpenAI `messages` array. System and developer messages
    at the start become the system prompt; a developer message later stays in place."""
    if not isinstance(data, list) or not data:
        raise ValueError("messages must be a non-empty JSON array of message objects.")
    system: list[str] = []
    out: list[Message] = []
    names: dict[str, str] = {}  # call id -> recipient, for tool messages that give only the id
    for n, m in enumerate(data, 1):
        where = f"message {n}"
        if not isinstance(m, Mapping):
            raise ValueError(f"{where} is not an object.")
        role = m.get("role")
        if role in ("system", "developer"):
            text = _text(m.get("content"), where)
            if out:
                out.append(Message("developer", text))
            else:
                system.append(text)
        elif role == "user":
            out.append(Message("user", _text(m.get("content"), where)))
        elif role == "assistant":
            reasoning = m.get("reasoning_content", m.get("reasoning", "")) or ""
            if not isinstance(reasoning, str):
                raise ValueError(f"{where}: reasoning_content must be text.")
            calls = _calls(m["tool_calls"], where) if m.get("tool_calls") else ()
            names.update({c.call_id: c.recipient for c in calls if c.call_id})
            out.append(Message("assistant", _text(m.get("content"), where), reasoning, tool_calls=calls))
        elif role == "tool":
            call_id = str(m.get("tool_call_id", ""))
            name = str(m.get("name", "")) or names.get(call_id, "")
            if not name:
                raise ValueError(f"{where}: a tool message needs the tool_call_id of an earlier call.")
            recipient = name if name == "python" or name.startswith("functions.") else f"functions.{name}"
            out.append(Message("tool", _text(m.get("content"), where), tool_name=recipient,
                               call_id=call_id))
        else:
            raise ValueError(f"{where} has an unknown role {role!r}: use system, developer, user, "
                             "assistant or tool.")
    return "\n\n".join(s for s in system if s), tuple(out)


def tools_from_openai(data: Any) -> tuple[FunctionTool, ...]:
    """FunctionTools from an OpenAI `tools` array (`{"type": "function", "function": {...}}`; the
    Responses API's flat `{"type": "function", "name": ...}` is accepted too)."""
    if not isinstance(data, list):
        raise ValueError("tools must be a JSON array of tool objects.")
    tools = []
    for n, t in enumerate(data, 1):
        fn = t.get("function", t) if isinstance(t, Mapping) else None
        is_function = isinstance(t, Mapping) and t.get("type", "function") == "function"
        if not is_function or not isinstance(fn, Mapping):
            raise ValueError(f"tool {n}: only function tools are supported.")
        name = fn.get("name")
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"tool {n}: a function needs a name of letters, digits, _ and -.")
        parameters = fn.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise ValueError(f"tool {n} ({name}): parameters must be a JSON Schema object.")
        tools.append(FunctionTool(name, str(fn.get("description", "") or ""), dict(parameters)))
    return tuple(tools)


def load_json_file(text: str, what: str) -> Any:
    """JSON from a file a person gave us, with a one-line reason when it is not usable."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{what} is not valid JSON ({e}).") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be {what}.") from None
    if _depth(data) > MAX_DEPTH:
        raise ValueError(f"{what} is nested too deeply.")
    return data


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        nxt: list[Any] = []
        for v in level:
            if isinstance(v, Mapping):
                nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(v)
        level = nxt
        if depth > MAX_DEPTH:
            break
    return depth
