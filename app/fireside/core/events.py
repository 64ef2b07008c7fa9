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
    """A complete tool call the model asked for (`to=functions.x`); Fireside runs no tools yet."""

    recipient: str
    arguments: str
    channel: str = "commentary"
    content_type: str = ""


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
    stop_reason: str = "end"  # "end" | "length" | "cancelled" | "context" | "error"

    def as_json(self) -> dict[str, float | int | str]:
        return {
            "ttft_s": round(self.ttft_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "prompt_tokens": self.prompt_tokens,
            "reused_prompt_tokens": self.reused_prompt_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "answer_tokens": self.answer_tokens,
            "reasoning_s": round(self.reasoning_s, 4),
            "total_s": round(self.total_s, 4),
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True)
class Done:
    """The reply is over (finished, cut at max tokens, or cancelled); always the last event."""

    stats: ReplyStats


Event = ReasoningDelta | AnswerDelta | ToolCall | Done
