"""Non-gpt-oss prompts: the GGUF's own template in a sandbox, or a plain transcript."""

from __future__ import annotations

import pytest

from fireside.core.chat.chat_template import TemplateError, TemplateTokens, render_plain, render_template
from fireside.core.chat.conversation import ChatRequest, Message

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
