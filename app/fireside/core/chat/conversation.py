"""The conversation as the core sees it: plain dataclasses shared by the engine, UI and CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fireside.core.chat.events import ToolCall


class Effort(StrEnum):
    """gpt-oss reasoning effort; the value is the word that goes into the harmony system message."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @classmethod
    def parse(cls, text: str) -> Effort:
        """Accept any case; raise ValueError with a sentence a person can act on."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(
                f"Unknown reasoning effort {text!r}: choose low, medium or high."
            ) from None


@dataclass(frozen=True)
class Message:
    """One message. For the assistant, `text` is the final answer and `reasoning` the analysis.

    Tool use follows the OpenAI Chat Completions shape, which maps one-to-one onto harmony: an
    assistant message whose `tool_calls` are set (its `reasoning` is the analysis before the calls,
    its `text` usually empty), then one "tool" message per call with the output in `text`,
    `tool_name` the call's recipient and `call_id` the call's id, then the next assistant message.
    """

    role: str  # "user" | "assistant" | "tool" | "developer" (the API's mid-chat instructions)
    text: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str = ""  # role "tool": recipient of the call answered, e.g. "functions.get_weather"
    call_id: str = ""  # role "tool": the call answered


@dataclass(frozen=True)
class Sampling:
    """Sampling settings. Defaults follow OpenAI's recommendation for gpt-oss: temperature 1, top_p 1."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k
    min_p: float = 0.0
    seed: int | None = None  # None draws a fresh seed per reply

    @classmethod
    def greedy(cls) -> Sampling:
        return cls(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, seed=0)

    @classmethod
    def for_model(cls, harmony: bool, seed: int | None = None) -> Sampling:
        """gpt-oss was tuned for temperature 1 with no truncation; other models do better with
        llama.cpp's defaults (a base model at temperature 1 rambles)."""
        if harmony:
            return cls(seed=seed)
        return cls(temperature=0.8, top_p=0.95, top_k=40, min_p=0.05, seed=seed)


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call: an MCP server's tool or a client-defined function.

    `parameters` is a JSON Schema object, as in OpenAI's `tools` array and MCP's `inputSchema`.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdapterUse:
    """A LoRA adapter applied to a reply: its GGUF file and how strongly (llama.cpp's scale;
    0 leaves the model as it is, 1 applies the adapter as trained)."""

    path: str
    scale: float = 1.0

    @property
    def name(self) -> str:
        """The adapter's file name without .gguf, e.g. "legal-v2"."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".gguf")

    @property
    def label(self) -> str:
        """How a reply's stats name it: the name and the scale, e.g. "legal-v2:0.8"."""
        return f"{self.name}:{self.scale:g}"


@dataclass(frozen=True)
class ChatRequest:
    """Everything needed to produce the next assistant reply."""

    messages: tuple[Message, ...]
    system_prompt: str = ""
    effort: Effort = Effort.MEDIUM
    max_tokens: int | None = None  # None: until the model stops or the context is full
    sampling: Sampling | None = None  # None: the defaults for the loaded model (Sampling.for_model)
    tools: tuple[FunctionTool, ...] = ()  # function tools offered (harmony: `namespace functions`)
    python_tool: bool = False  # offer the built-in python tool (harmony: system message `# Tools`)
    # A JSON Schema for the final answer (Structured Outputs); the reasoning stays free.
    json_schema: Mapping[str, Any] | None = None
    # LoRA adapters to apply to this reply, with their scales (several at once add up).
    adapters: tuple[AdapterUse, ...] = ()
