"""Non-gpt-oss prompts: the GGUF's own template in a sandbox, or a plain transcript."""

from __future__ import annotations

import pytest

from fireside.core.chat.chat_template import (
    TemplateError,
    TemplateTokens,
    render_plain,
    render_template,
    uses_tools,
)
from fireside.core.chat.conversation import ChatRequest, FunctionTool, Message
from fireside.core.chat.events import ToolCall

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GEMMA_LIKE = (
    "{{ bos_token }}{% if messages[0].role == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}"
    "<start_of_turn>model\n"
)


def _req(system: str = "") -> ChatRequest:
    return ChatRequest(
        messages=(Message("user", "Hi"), Message("assistant", "Hello!", reasoning="secret"),
                  Message("user", "Bye")),
        system_prompt=system,
    )


def test_renders_the_models_template_with_history_but_no_reasoning():
    out = render_template(CHATML, _req("Be brief."), TemplateTokens())
    assert out == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert "secret" not in out


def test_system_prompt_folds_into_first_turn_when_template_refuses_it():
    out = render_template(GEMMA_LIKE, _req("Be brief."), TemplateTokens(bos="<bos>"))
    assert out.startswith("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>")


@pytest.mark.parametrize(
    "evil",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.append(1) }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_template_runs_sandboxed(evil: str):
    with pytest.raises(TemplateError):
        render_template(evil, _req(), TemplateTokens())


def test_broken_template_is_a_readable_error():
    with pytest.raises(TemplateError, match="could not be used"):
        render_template("{% for %}", _req(), TemplateTokens())


def test_plain_transcript():
    assert render_plain(_req("Be brief.")) == (
        "Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:"
    )


TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function.name }} "
    "{{ c.function.arguments | tojson }} {{ c.id }}</tool_call>{% endfor %}"
    "{% if m.role == 'tool' %}[{{ m.name }} {{ m.tool_call_id }}] {% endif %}"
    "{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)


def _tool_req() -> ChatRequest:
    call = ToolCall("functions.get_weather", '{"city": "Oslo"}', "commentary", "json", "call_7")
    return ChatRequest(
        messages=(
            Message("user", "Weather?"),
            Message("assistant", "", reasoning="secret", tool_calls=(call,)),
            Message("tool", "rain", tool_name="functions.get_weather", call_id="call_7"),
        ),
        tools=(FunctionTool("get_weather", "Weather now.", {"type": "object", "properties": {
            "city": {"type": "string"}}}),),
    )


def test_tools_and_tool_messages_reach_a_template_that_uses_them():
    out = render_template(TOOLS_TEMPLATE, _tool_req(), TemplateTokens())
    assert out == (
        "<|im_start|>system\n"
        '{"type": "function", "function": {"name": "get_weather", "description": "Weather now.", '
        '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}\n'
        "<|im_end|>\n"
        "<|im_start|>user\nWeather?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>get_weather {"city": "Oslo"} call_7</tool_call><|im_end|>\n'
        "<|im_start|>tool\n[get_weather call_7] rain<|im_end|>\n"
        "<|im_start|>assistant"  # Jinja drops a template's final newline
    )
    assert uses_tools(TOOLS_TEMPLATE) and not uses_tools(CHATML)
    # A template that never reads `tools` renders as before; arguments that are not a JSON
    # object stay text.
    assert "secret" not in render_template(CHATML, _tool_req(), TemplateTokens())
    odd = ToolCall("python", "print(1)")
    req = ChatRequest(messages=(Message("assistant", "", tool_calls=(odd,)),))
    assert "<tool_call>python \"print(1)\" </tool_call>" in render_template(
        TOOLS_TEMPLATE, req, TemplateTokens()
    )
