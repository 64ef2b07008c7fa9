"""Choose and render the prompt format for a model from its GGUF metadata alone.

Needs no loaded model, so `fireside chat --print-prompt` and the engine produce the same text.
"""

from __future__ import annotations

from fireside.core.chat import harmony
from fireside.core.chat.chat_template import TemplateTokens, render_plain, render_template
from fireside.core.chat.conversation import ChatRequest
from fireside.core.models.gguf_info import GGUFInfo

PLAIN_NOTE = (
    "This model has no chat template (it is probably a base model), so Fireside talks to it "
    "as a plain “User: / Assistant:” transcript. Replies may wander."
)


def prompt_format(gguf: GGUFInfo) -> str:
    """'harmony' for gpt-oss, 'template' for chat models, 'plain' for base models."""
    if gguf.is_harmony:
        return "harmony"
    return "template" if gguf.chat_template.strip() else "plain"


def format_note(gguf: GGUFInfo) -> str:
    return PLAIN_NOTE if prompt_format(gguf) == "plain" else ""


def template_tokens(gguf: GGUFInfo) -> TemplateTokens:
    tokens = gguf.metadata.get("tokenizer.ggml.tokens") or []

    def text(key: str) -> str:
        tid = gguf.metadata.get(key)
        return tokens[tid] if isinstance(tid, int) and 0 <= tid < len(tokens) else ""

    return TemplateTokens(
        bos=text("tokenizer.ggml.bos_token_id"), eos=text("tokenizer.ggml.eos_token_id")
    )


def render(gguf: GGUFInfo, request: ChatRequest, fmt: str | None = None) -> str:
    """The prompt text; `fmt` is prompt_format(gguf) when the caller already knows it (the engine
    does, from load time: for a non-gpt-oss model, working it out scans the whole vocabulary,
    some 20 ms for a 262k-token one, on every reply)."""
    fmt = fmt or prompt_format(gguf)
    if fmt == "harmony":
        return harmony.render_prompt(request)
    if fmt == "template":
        return render_template(gguf.chat_template, request, template_tokens(gguf))
    return render_plain(request)
