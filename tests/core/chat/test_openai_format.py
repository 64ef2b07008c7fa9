"""The one OpenAI-format parser (CLI --messages/--tools and the API server): shapes, and errors
that name the field both ways (OpenAI's `param` and the item as a person counts it)."""

from __future__ import annotations

import pytest

from fireside.core.chat.conversation import Message
from fireside.core.chat.openai_format import (
    OpenAIFormatError,
    messages_from_openai,
    tools_from_openai,
)
from fireside.core.chat.openai_items import messages_from_items

CALL = {"id": "call_1", "type": "function", "function": {"name": "python", "arguments": "print(1)"}}


def test_messages_become_the_system_prompt_and_the_conversation() -> None:
    system, messages = messages_from_openai([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Run "}, "it"]},
        {"role": "assistant", "content": None, "reasoning_content": None, "reasoning": "Plan.",
         "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "1"},
        {"role": "developer", "content": "Now answer."},
    ])
    assert system == "Be brief."
    assert [m.role for m in messages] == ["user", "assistant", "tool", "developer"]
    assert messages[0].text == "Run it" and messages[1].reasoning == "Plan."
    assert messages[1].tool_calls[0].recipient == "python" and messages[2].tool_name == "python"


def test_python_is_a_function_for_api_clients() -> None:
    _s, messages = messages_from_openai([{"role": "assistant", "tool_calls": [CALL]},
                                         {"role": "tool", "tool_call_id": "call_1", "content": "1"}],
                                        builtin_python=False)
    call = messages[0].tool_calls[0]
    assert (call.recipient, call.channel, call.content_type) == ("functions.python", "commentary", "json")
    assert messages[1].tool_name == "functions.python"


def test_a_tool_message_right_after_the_calls_answers_them_in_order() -> None:
    _s, messages = messages_from_openai([
        {"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "content": "1"}])
    assert messages[-1] == Message("tool", "1")
    with pytest.raises(OpenAIFormatError) as e:
        messages_from_openai([{"role": "user", "content": "x"}, {"role": "tool", "content": "1"}])
    assert e.value.param == "messages[1]" and str(e.value).startswith("message 2: a tool message")


@pytest.mark.parametrize(("data", "param", "says"), [
    ([{"role": "robot"}], "messages[0].role", "message 1: unknown role 'robot'"),
    ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content[0].type",
     "message 1, content part 1: content of type 'image_url' is not supported"),
    ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}],
     "messages[0].tool_calls[0].function.arguments", "message 1, tool call 1: a function call's"),
    ("hi", "messages", "messages must be a non-empty list"),
])
def test_message_errors_name_the_field(data: object, param: str, says: str) -> None:
    with pytest.raises(OpenAIFormatError) as e:
        messages_from_openai(data)
    assert e.value.param == param and str(e.value).startswith(says)


@pytest.mark.parametrize(("data", "param", "says"), [
    ([{"type": "web_search"}], "tools[0].type", "tool 1: tools of type 'web_search' are not supported: "
                                                "only function tools."),
    ([{"type": "function", "name": "a.b"}], "tools[0].name", "tool 1: a function needs a name"),
    ([{"type": "function", "name": "f"}, {"type": "function", "function": {"name": "f"}}], "tools",
     "Two tools have the same name."),
])
def test_tool_errors_name_the_field(data: object, param: str, says: str) -> None:
    with pytest.raises(OpenAIFormatError) as e:
        tools_from_openai(data)
    assert e.value.param == param and str(e.value).startswith(says)


def test_both_tool_shapes_parse_alike() -> None:
    chat = tools_from_openai([{"type": "function", "function": {"name": " f ", "parameters": {}}}])
    flat = tools_from_openai([{"type": "function", "name": "f", "description": None}])
    assert chat == flat and chat[0].name == "f"


def test_response_items_join_reasoning_and_calls_to_their_assistant_message() -> None:
    instructions, messages = messages_from_items([
        {"type": "message", "role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "Call it."}]},
        {"type": "function_call", "name": "get_weather", "arguments": {"city": "Oslo"},
         "call_id": "call_9"},
        {"type": "function_call_output", "call_id": "call_9", "output": "cold"},
    ])
    assert instructions == ("Be brief.",)
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[1].reasoning == "Call it."
    assert messages[1].tool_calls[0].arguments == '{"city": "Oslo"}'
    with pytest.raises(OpenAIFormatError) as e:
        messages_from_items([{"type": "image"}])
    assert e.value.param == "input[0].type"
