"""Events a reply streams as: what the parser and the engine yield, and what the UI and CLI consume."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReasoningDelta:
    """More of the model's private reasoning (harmony `analysis` channel)."""

    text: str


@dataclass(frozen=True)
class AnswerDelta:
    """More of the answer meant for the user (harmony `final` channel, or a plain model's output)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call the model asked for.

    `recipient` is harmony's, exactly: "functions.get_weather" for a function tool (MCP tools and
    client-defined functions alike), "python" for the built-in python tool. `arguments` is the
    message body: JSON text for functions, code for python. `call_id` ties the result to the call
    (OpenAI's `call_…` ids); harmony itself has none, so the conversation service assigns it.
    `incomplete` is True when the reply ended (context full, token limit, stop) inside the call,
    before `<|call|>` or `<|end|>`: `arguments` is what arrived, possibly nothing; the call must
    not be run as if it were whole.
    """

    recipient: str
    arguments: str
    channel: str = "commentary"  # built-in tools are called on "analysis"
    content_type: str = ""  # "json" for `<|constrain|>json`
    call_id: str = ""
    incomplete: bool = False

    @property
    def function_name(self) -> str:
        """The name without harmony's namespace: "get_weather" for "functions.get_weather"."""
        return self.recipient.removeprefix("functions.")


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned for a call (or why it did not run: denied, failed, timed out)."""

    recipient: str  # the call's recipient, e.g. "functions.get_weather" or "python"
    output: str  # what the model reads back (already capped)
    call_id: str = ""
    error: bool = False  # the tool failed, timed out or was refused; `output` says which, in words
    duration_s: float = 0.0


@dataclass(frozen=True)
class ReplyStats:
    """Per-reply figures shown in the footer and printed by `fireside chat --json`."""

    ttft_s: float = 0.0  # request to first generated token, prompt processing included
    tokens_per_s: float = 0.0  # generated tokens / generation time (after the first token)
    prompt_tokens: int = 0
    reused_prompt_tokens: int = 0  # prompt tokens served from the KV cache, not re-evaluated
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    reasoning_s: float = 0.0  # time from first reasoning token to the first answer token
    total_s: float = 0.0
    # "end" | "length" | "cancelled" | "context" | "error" | "tool_call" (a call for the caller to run)
    stop_reason: str = "end"
    # With stop_reason "error": what went wrong, for the person (a remote stream cut mid-reply;
    # the deltas that arrived before stay shown). Empty otherwise.
    message: str = ""
    adapters: tuple[str, ...] = ()  # the LoRA adapters that produced the reply, "name:scale"
    # Speculative decoding: tokens drafted from the conversation, and how many the model accepted.
    drafted_tokens: int = 0
    accepted_tokens: int = 0

    def __post_init__(self) -> None:
        # Stats come back from the history as JSON, where the adapters are a list.
        if not isinstance(self.adapters, tuple):
            object.__setattr__(self, "adapters", tuple(str(a) for a in self.adapters))

    def as_json(self) -> dict[str, float | int | str | list[str]]:
        out: dict[str, float | int | str | list[str]] = {
            "ttft_s": round(self.ttft_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "prompt_tokens": self.prompt_tokens,
            "reused_prompt_tokens": self.reused_prompt_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "answer_tokens": self.answer_tokens,
            "reasoning_s": round(self.reasoning_s, 4),
            "total_s": round(self.total_s, 4),
            "stop_reason": self.stop_reason,
            "adapters": list(self.adapters),
            "drafted_tokens": self.drafted_tokens,
            "accepted_tokens": self.accepted_tokens,
        }
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class Done:
    """The reply is over (finished, cut at max tokens, or cancelled); always the last event."""

    stats: ReplyStats


Event = ReasoningDelta | AnswerDelta | ToolCall | ToolResult | Done
