"""The Responses API's input and output items as the conversation's messages.

Reasoning items and function calls join the assistant message they belong to; a
`function_call_output` becomes a tool message. Used by the API server for `input` (with the
stored chain of `previous_response_id` before it) and by the history, which shows stored
responses as conversations. Problems are `OpenAIFormatError`s, as in `openai_format`.
"""

from __future__ import annotations

from typing import Any

from fireside.core.chat.conversation import Message
from fireside.core.chat.events import ToolCall
from fireside.core.chat.openai_format import OpenAIFormatError, arguments_text, obj, text_of, tool_call


def messages_from_items(items: Any, param: str = "input",
                        ) -> tuple[tuple[str, ...], tuple[Message, ...]]:
    """(leading instructions, messages) from a list of items. System and developer messages
    before any other become instructions; later ones stay in place as developer messages."""
    if not isinstance(items, list):
        raise OpenAIFormatError(f"{param} must be text or a list of items.", param)
    instructions: list[str] = []
    out: list[Message] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []

    def flush() -> None:
        if reasoning or calls:
            out.append(Message("assistant", "", "".join(reasoning), tuple(calls)))
            reasoning.clear()
            calls.clear()

    for i, raw in enumerate(items):
        where = f"{param}[{i}]"
        item = obj(raw, where, "Each item")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            text = text_of(item.get("content"), f"{where}.content")
            if role in ("system", "developer"):
                flush()
                if out:
                    out.append(Message("developer", text))
                else:
                    instructions.append(text)
            elif role == "user":
                flush()
                out.append(Message("user", text))
            elif role == "assistant":
                if calls:
                    flush()
                out.append(Message("assistant", text, "".join(reasoning)))
                reasoning.clear()
            else:
                raise OpenAIFormatError(f"Unknown role {role!r}: use system, developer, user or "
                                        "assistant.", f"{where}.role")
        elif kind == "reasoning":
            parts = item.get("content") or item.get("summary") or []
            reasoning.append(text_of(parts, f"{where}.content"))
        elif kind == "function_call":
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise OpenAIFormatError("A function call needs a name.", f"{where}.name")
            calls.append(tool_call(name, arguments_text(item.get("arguments", "{}"),
                                                        f"{where}.arguments"),
                                   str(item.get("call_id") or ""), builtin_python=False))
        elif kind == "function_call_output":
            flush()
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise OpenAIFormatError("A function call output needs the call_id it answers.",
                                        f"{where}.call_id")
            out.append(Message("tool", text_of(item.get("output"), f"{where}.output"),
                               call_id=call_id))
        else:
            raise OpenAIFormatError(f"Input items of type {kind!r} are not supported.", f"{where}.type")
    flush()
    return tuple(instructions), tuple(out)
