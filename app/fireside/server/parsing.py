"""Request fields both APIs share, checked and turned into the conversation service's terms.

Every check raises `ApiError` 400 with the offending `param`, so a client learns what to fix.
Messages, input items and tools are parsed by `core/chat/openai_format.py` (the one parser, the
CLI's too); `openai_format()` turns its errors into that 400.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from fireside.core.chat.conversation import Effort, FunctionTool, Sampling
from fireside.core.chat.openai_format import OpenAIFormatError, tools_from_openai
from fireside.core.engine.structured import SchemaError, schema_to_gbnf
from fireside.server.errors import bad

MAX_STOPS = 4  # as OpenAI


@dataclass(frozen=True)
class SamplingAsked:
    """What the client set; the rest comes from the model's recommended settings."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    def for_model(self, harmony: bool) -> Sampling | None:
        if self.temperature is None and self.top_p is None and self.seed is None:
            return None
        s = Sampling.for_model(harmony, seed=self.seed)
        if self.temperature is not None:
            s = replace(s, temperature=self.temperature)
        if self.top_p is not None:
            s = replace(s, top_p=self.top_p)
        return s


@contextmanager
def openai_format() -> Iterator[None]:
    """Core's format errors as the API's 400, naming the field at fault."""
    try:
        yield
    except OpenAIFormatError as exc:
        raise bad(exc.reason, exc.param) from None


def obj(body: Any, what: str = "The request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad(f"{what} must be a JSON object.")
    return body


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model", "")
    if model is None:
        return ""
    if not isinstance(model, str):
        raise bad("model must be a string.", "model")
    return model.strip()


def effort_of(value: Any, param: str, default: Effort) -> Effort:
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad("The reasoning effort must be low, medium or high.", param)
    word = value.strip().lower()
    if word == "minimal":  # OpenAI's lowest; gpt-oss's lowest is low
        word = "low"
    try:
        return Effort(word)
    except ValueError:
        raise bad(f"Unknown reasoning effort {value!r}: choose low, medium or high.", param) from None


def positive_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise bad(f"{param} must be a positive whole number.", param)
    return value


def number(value: Any, param: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{param} must be a number from {low:g} to {high:g}.", param)
    return float(value)


def sampling_of(body: dict[str, Any]) -> SamplingAsked:
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise bad("seed must be a whole number, 0 or more.", "seed")
    return SamplingAsked(number(body.get("temperature"), "temperature", 0.0, 2.0),
                         number(body.get("top_p"), "top_p", 0.0, 1.0),
                         None if seed is None else seed % (2**32))


def stops_of(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
        raise bad("stop must be a string or a list of non-empty strings.", "stop")
    if len(items) > MAX_STOPS:
        raise bad(f"stop may list at most {MAX_STOPS} sequences.", "stop")
    return tuple(items)


def tools_of(value: Any, param: str = "tools") -> tuple[FunctionTool, ...]:
    with openai_format():
        return tools_from_openai(value, param)


@dataclass(frozen=True)
class ToolChoice:
    tools: tuple[FunctionTool, ...]
    instruction: str  # added to the instructions for "required" or a named function


def tool_choice_of(value: Any, tools: tuple[FunctionTool, ...]) -> ToolChoice:
    """auto (default): the tools as offered; none: none offered; required / a named function:
    only those offered, and the model is told it must call one (harmony has no way to force it,
    so this is an instruction, not a guarantee)."""
    if value is None or value == "auto":
        return ToolChoice(tools, "")
    if value == "none":
        return ToolChoice((), "")
    if value == "required":
        if not tools:
            raise bad("tool_choice is required but no tools were given.", "tool_choice")
        return ToolChoice(tools, "Call one of the functions before you answer.")
    if isinstance(value, dict):
        fn = value.get("function", value)
        name = fn.get("name") if isinstance(fn, dict) else None
        chosen = tuple(t for t in tools if t.name == name)
        if not chosen:
            raise bad(f"tool_choice names {name!r}, which is not among the tools.", "tool_choice")
        return ToolChoice(chosen, f"Call the function {name} before you answer.")
    raise bad("tool_choice must be auto, none, required or a function.", "tool_choice")


def json_schema_of(fmt: Any, param: str) -> Mapping[str, Any] | None:
    """`{"type": "json_schema", "json_schema": {"schema": ...}}` (Chat) or `{"type":
    "json_schema", "schema": ...}` (Responses' text.format); "json_object" asks for any object."""
    if fmt is None:
        return None
    fmt = obj(fmt, param)
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind != "json_schema":
        raise bad(f"Unknown format type {kind!r}: use text, json_object or json_schema.",
                  f"{param}.type")
    inner = fmt.get("json_schema", fmt)
    schema = inner.get("schema") if isinstance(inner, dict) else None
    if not isinstance(schema, dict):
        raise bad("A json_schema format needs a schema object.", param)
    try:
        schema_to_gbnf(schema)
    except SchemaError as exc:
        raise bad(str(exc), param) from None
    return schema
