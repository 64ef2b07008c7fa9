"""OpenAI's `messages` and `tools` arrays, and the Responses API's input items, in the
conversation's own shapes: the one parser for every front end.

`fireside chat --messages FILE --tools FILE` reads them, and so does the local API server
(`server/`), which only maps `OpenAIFormatError` to an HTTP 400 with its `param`. Every problem is
an `OpenAIFormatError` (a ValueError): `reason` is a sentence, `param` the field at fault in
OpenAI's notation (`messages[2].role`), and `str()` names the item the way a person counts
("message 3: unknown role 'robot': ...").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fireside.core.chat.conversation import FunctionTool, Message
from fireside.core.chat.events import ToolCall

MAX_DEPTH = 64  # JSON nested deeper than this is not a conversation
TEXT_PARTS = ("text", "input_text", "output_text", "reasoning_text", "refusal")
_ITEM_NAMES = {"messages": "message", "tool_calls": "tool call", "tools": "tool",
               "input": "input item", "content": "content part", "output": "output part"}


class OpenAIFormatError(ValueError):
    """A request or file that does not follow the OpenAI format, with the field at fault."""

    def __init__(self, reason: str, param: str | None = None) -> None:
        self.reason, self.param = reason, param
        where = _where(param or "")
        super().__init__(f"{where}: {reason[:1].lower()}{reason[1:]}" if where else reason)


def _where(param: str) -> str:
    """`messages[2].tool_calls[0].function.name` -> "message 3, tool call 1"."""
    found = re.findall(r"([A-Za-z_]+)\[(\d+)\]", param)
    return ", ".join(f"{_ITEM_NAMES.get(name, name)} {int(n) + 1}" for name, n in found)


def obj(value: Any, param: str | None, what: str = "It") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OpenAIFormatError(f"{what} must be a JSON object.", param)
    return value


def text_of(value: Any, param: str) -> str:
    """A message's content: a string, or a list of text parts (text, input_text, output_text,
    reasoning_text, refusal)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        out = []
        for i, part in enumerate(value):
            if isinstance(part, str):
                out.append(part)
                continue
            if not isinstance(part, dict):
                raise OpenAIFormatError("Each content part must be an object.", f"{param}[{i}]")
            kind = part.get("type", "text")
            if kind not in TEXT_PARTS:
                raise OpenAIFormatError(f"Content of type {kind!r} is not supported: only text is.",
                                        f"{param}[{i}].type")
            t = part.get("text", part.get("refusal", ""))
            if not isinstance(t, str):
                raise OpenAIFormatError("A text part's text must be a string.", f"{param}[{i}].text")
            out.append(t)
        return "".join(out)
    raise OpenAIFormatError("Content must be a string or a list of text parts.", param)


def arguments_text(value: Any, param: str) -> str:
    """A call's arguments as harmony wants them: JSON text (an object some clients send is
    written out)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    raise OpenAIFormatError("A function call's arguments must be a JSON string.", param)


def tool_call(name: str, arguments: str, call_id: str, builtin_python: bool) -> ToolCall:
    """A call as harmony addresses it: `python` is the built-in tool where one is offered,
    anything else a function."""
    if builtin_python and name == "python":
        return ToolCall("python", arguments, "analysis", "code", call_id)
    recipient = name if name.startswith("functions.") else f"functions.{name}"
    return ToolCall(recipient, arguments, "commentary", "json", call_id)


def _calls(value: Any, param: str, builtin_python: bool) -> tuple[ToolCall, ...]:
    if not isinstance(value, list):
        raise OpenAIFormatError("tool_calls must be a list.", param)
    calls = []
    for j, raw in enumerate(value):
        where = f"{param}[{j}]"
        fn = obj(obj(raw, where, "A tool call").get("function"), f"{where}.function",
                 "A tool call's function")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise OpenAIFormatError("A tool call needs a function name.", f"{where}.function.name")
        calls.append(tool_call(name, arguments_text(fn.get("arguments", "{}"),
                                                    f"{where}.function.arguments"),
                               str(raw.get("id") or ""), builtin_python))
    return tuple(calls)


def _tool_result(text: str, name: str, call_id: str, param: str, answered: dict[str, str],
                 after_calls: bool, builtin_python: bool) -> Message:
    """A tool's output. It must say which call it answers: by name, by an earlier call's id, or
    by following the calls it answers in order (as harmony renders them)."""
    name = name or answered.get(call_id, "")
    if not name and not after_calls:
        raise OpenAIFormatError("A tool message needs the tool_call_id of an earlier call.", param)
    recipient = (name if not name or name.startswith("functions.")
                 or (builtin_python and name == "python") else f"functions.{name}")
    return Message("tool", text, tool_name=recipient, call_id=call_id)


def messages_from_openai(data: Any, *, builtin_python: bool = True,
                         param: str = "messages") -> tuple[str, tuple[Message, ...]]:
    """(system prompt, messages) from a Chat Completions `messages` array. System and developer
    messages at the start become the system prompt; a developer message later stays in place.
    `builtin_python`: a call to `python` is the built-in tool (the CLI's --python), not a
    function of that name (the API server's clients)."""
    if not isinstance(data, list) or not data:
        raise OpenAIFormatError(f"{param} must be a non-empty list of message objects.", param)
    system: list[str] = []
    out: list[Message] = []
    answered: dict[str, str] = {}  # call id -> recipient
    for i, raw in enumerate(data):
        where = f"{param}[{i}]"
        m = obj(raw, where, "Each message")
        role = m.get("role")
        text = text_of(m.get("content"), f"{where}.content")
        if role in ("system", "developer"):
            if out:
                out.append(Message("developer", text))
            elif text:
                system.append(text)
        elif role == "user":
            out.append(Message("user", text))
        elif role == "assistant":
            reasoning = m.get("reasoning_content") or m.get("reasoning") or ""
            if not isinstance(reasoning, str):
                raise OpenAIFormatError("reasoning_content must be a string.",
                                        f"{where}.reasoning_content")
            calls = (_calls(m["tool_calls"], f"{where}.tool_calls", builtin_python)
                     if m.get("tool_calls") else ())
            answered.update({c.call_id: c.recipient for c in calls if c.call_id})
            out.append(Message("assistant", text, reasoning, calls))
        elif role == "tool":
            call_id, name = m.get("tool_call_id") or "", m.get("name") or ""
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise OpenAIFormatError("tool_call_id and name must be strings.", f"{where}.tool_call_id")
            out.append(_tool_result(text, name, call_id, where, answered,
                                    _after_calls(out), builtin_python))
        else:
            raise OpenAIFormatError(f"Unknown role {role!r}: use system, developer, user, "
                                    "assistant or tool.", f"{where}.role")
    return "\n\n".join(system), tuple(out)


def _after_calls(so_far: list[Message]) -> bool:
    """Whether a tool message here follows an assistant's calls (then it answers them in order)."""
    last = next((m for m in reversed(so_far) if m.role != "tool"), None)
    return last is not None and last.role == "assistant" and bool(last.tool_calls)


def tools_from_openai(data: Any, param: str = "tools") -> tuple[FunctionTool, ...]:
    """FunctionTools from an OpenAI `tools` array: Chat's `{"type": "function", "function":
    {...}}` or the Responses API's flat `{"type": "function", "name": ...}`."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise OpenAIFormatError(f"{param} must be a list of tool objects.", param)
    tools = tuple(_tool(t, f"{param}[{i}]") for i, t in enumerate(data))
    if len({t.name for t in tools}) != len(tools):
        raise OpenAIFormatError("Two tools have the same name.", param)
    return tools


def _tool(raw: Any, param: str) -> FunctionTool:
    spec = obj(raw, param, "Each tool")
    if spec.get("type", "function") != "function":
        raise OpenAIFormatError(f"Tools of type {spec.get('type')!r} are not supported: only "
                                "function tools.", f"{param}.type")
    fn = obj(spec.get("function", spec), f"{param}.function", "A tool's function")
    name = fn.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise OpenAIFormatError("A function needs a name of letters, digits, _ and -.", f"{param}.name")
    description = fn.get("description") or ""
    parameters = fn.get("parameters") or {}
    if not isinstance(description, str) or not isinstance(parameters, dict):
        raise OpenAIFormatError(f"Function {name}: its description must be text and its parameters "
                                "a JSON Schema object.", param)
    return FunctionTool(name, description, dict(parameters))


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
