"""Prompts for models that are not gpt-oss: their own chat template, or a plain transcript.

A GGUF's chat template is code from the internet, so it runs in Jinja's immutable sandbox: it can
format strings, but not reach Python objects, files or the network.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass, replace
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fireside.core.chat.conversation import ChatRequest, Message
from fireside.core.engine.protocol import EngineError

PLAIN_USER = "User:"
PLAIN_ASSISTANT = "Assistant:"
# Base models keep writing both sides of a dialogue; stop when they start the user's next line.
PLAIN_STOPS = ("\nUser:", "\nUSER:")


class TemplateError(EngineError):
    """The model's own chat template failed; the message says so in plain words."""


def _raise(message: str) -> None:
    raise TemplateError(f"The model's chat template refused this conversation: {message}")


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


@dataclass(frozen=True)
class TemplateTokens:
    bos: str = ""
    eos: str = ""


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: _dt.datetime.now().strftime(fmt)
    return env


@functools.lru_cache(maxsize=4)
def _compile(template: str) -> jinja2.Template:
    """Compiling a model's template takes milliseconds; every turn renders it, so keep it."""
    return _environment().from_string(template)


def messages_for(request: ChatRequest) -> list[dict[str, Any]]:
    """OpenAI Chat Completions message dicts; previous reasoning is not sent back, as with gpt-oss.

    Tool use goes in OpenAI's shape, which Hugging Face chat templates expect: an assistant
    message's `tool_calls` (arguments as an object when they are a JSON object, as those
    templates `tojson` them), and a `tool` message per result with `tool_call_id` and `name`.
    """
    out: list[dict[str, Any]] = []
    if request.system_prompt.strip():
        out.append({"role": "system", "content": request.system_prompt})
    for m in request.messages:
        if m.role == "tool":
            name = m.tool_name.removeprefix("functions.")
            out.append({"role": "tool", "content": m.text, "tool_call_id": m.call_id, "name": name})
        elif m.role == "assistant" and m.tool_calls:
            calls = [
                {
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.function_name, "arguments": _arguments(c.arguments)},
                }
                for c in m.tool_calls
            ]
            out.append({"role": "assistant", "content": m.text, "tool_calls": calls})
        else:
            role = "system" if m.role == "developer" else m.role
            out.append({"role": role, "content": m.text})
    return out


def _arguments(text: str) -> object:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


_NO_PARAMETERS = {"type": "object", "properties": {}}


def tools_for(request: ChatRequest) -> list[dict[str, Any]]:
    """`request.tools` as an OpenAI `tools` array (plain dicts and lists, for the sandbox)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": json.loads(json.dumps(t.parameters or _NO_PARAMETERS)),
            },
        }
        for t in request.tools
    ]


@functools.lru_cache(maxsize=4)
def uses_tools(template: str) -> bool:
    """Whether the template reads a `tools` variable, i.e. shows the model what it can call."""
    try:
        return "tools" in jinja2.meta.find_undeclared_variables(_environment().parse(template))
    except jinja2.TemplateError:
        return False


def render_template(template: str, request: ChatRequest, tokens: TemplateTokens) -> str:
    """Render the GGUF's template with a generation prompt; wrap any failure in TemplateError."""
    try:
        return _compile(template).render(
            messages=messages_for(request),
            add_generation_prompt=True,
            bos_token=tokens.bos,
            eos_token=tokens.eos,
            tools=tools_for(request) if request.tools and uses_tools(template) else None,
        )
    except (TemplateError, jinja2.TemplateError) as e:
        if "system" in str(e).lower() and request.system_prompt.strip():
            # Some templates (Gemma 2, Mistral) reject a system role: fold it into the first turn.
            return render_template(template, _fold_system(request), tokens)
        if isinstance(e, TemplateError):
            raise
        raise TemplateError(f"The model's chat template could not be used: {e}") from None
    except Exception as e:  # a sandbox violation or a bug in the template itself
        raise TemplateError(f"The model's chat template could not be used: {e}") from None


def _fold_system(request: ChatRequest) -> ChatRequest:
    msgs = list(request.messages)
    if msgs and msgs[0].role == "user":
        msgs[0] = Message("user", f"{request.system_prompt}\n\n{msgs[0].text}")
    return replace(request, messages=tuple(msgs), system_prompt="")


def render_plain(request: ChatRequest) -> str:
    """A transcript any base model can continue: the answer is whatever follows 'Assistant:'."""
    parts: list[str] = []
    if request.system_prompt.strip():
        parts.append(request.system_prompt.strip() + "\n\n")
    for m in request.messages:
        label = {"assistant": PLAIN_ASSISTANT, "tool": "Tool:"}.get(m.role, PLAIN_USER)
        parts.append(f"{label} {m.text.strip()}\n")
    parts.append(PLAIN_ASSISTANT)
    return "".join(parts)
