"""Structured outputs: ChatRequest.json_schema constrains the answer, the reasoning stays free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import EngineError, LoadConfig
from fireside.core.engine.structured import FinalChannelWatch, SchemaError, schema_to_gbnf
from tests.helpers.forcing import ForcingSampler, forcing_engine
from tests.helpers.json_check import schema_errors

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 8},
        "sunny": {"type": "boolean"},
        "rank": {"type": "integer"},  # numeric bounds are not enforced (see structured.py)
        "unit": {"enum": ["C", "F"]},
    },
    "required": ["city", "sunny", "rank", "unit"],
    "additionalProperties": False,
}
RUNS = 50
# One thread: on a shared, loaded CPU two llama.cpp threads mostly wait for each other (the tiny
# model's 50 runs take 10 s instead of minutes).


def _reply(engine: LlamaEngine, request: ChatRequest) -> tuple[str, str, ReplyStats, list[Event]]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return reasoning, answer, done.stats, events


def _assert_valid(answer: str, stats: ReplyStats, seed: int) -> None:
    assert stats.stop_reason == "end", (seed, stats.stop_reason, answer)
    value = json.loads(answer)
    assert schema_errors(value, SCHEMA) == [], (seed, answer)


# ------------------------------------------------------------------------------------- gpt-oss


@pytest.fixture(scope="module")
def forced(tiny_gptoss_path: Path) -> tuple[LlamaEngine, ForcingSampler]:
    return forcing_engine(tiny_gptoss_path, n_ctx=1024, n_batch=64, n_threads=1)


REASONING = "The user wants the weather as JSON, so I will answer with an object."
HEADER = f"<|channel|>analysis<|message|>{REASONING}<|end|><|start|>assistant<|channel|>final<|message|>"


def _tiny_request(seed: int, schema: dict[str, Any] | None = SCHEMA) -> ChatRequest:
    return ChatRequest(messages=(Message("user", "Weather in Paris, as JSON?"),), max_tokens=160,
                       sampling=Sampling(seed=seed), json_schema=schema)


def test_gpt_oss_reasons_freely_then_answers_within_the_schema(forced):
    """Forced reasoning and final header (text no JSON grammar allows), then the grammar drives
    the random tiny model: 50 of 50 answers parse and validate."""
    engine, forcing = forced
    for seed in range(1000, 1000 + RUNS):
        n_forced = len(forcing.force_text(engine, HEADER))
        reasoning, answer, stats, _ = _reply(engine, _tiny_request(seed))
        assert forcing.errors == [] and forcing.forced_last == n_forced
        assert reasoning == REASONING
        _assert_valid(answer, stats, seed)


def test_without_the_schema_the_same_replies_are_not_json(forced):
    """The check above can fail: unconstrained, the tiny model writes no JSON."""
    engine, forcing = forced
    for seed in range(1000, 1005):
        forcing.force_text(engine, HEADER)
        _, answer, _, _ = _reply(engine, _tiny_request(seed, schema=None))
        with pytest.raises(ValueError):
            json.loads(answer)
    assert schema_errors({"city": "Paris and more", "sunny": 1, "rank": 2}, SCHEMA) == [
        "$: missing 'unit'", "$.city: longer than 8", "$.sunny: 1 is not of type boolean"]


def test_a_tool_call_before_the_answer_is_not_constrained(forced):
    engine, forcing = forced
    forcing.force_text(
        engine, '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>not json<|call|>')
    _, _, stats, events = _reply(engine, _tiny_request(1))
    assert stats.stop_reason == "tool_call"
    assert events[0].arguments == "not json"  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------- Gemma


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(str(gemma_path), LoadConfig(n_ctx=512, n_batch=128, n_threads=1))
    return engine


GEMMA_SCHEMA: dict[str, Any] = {  # smaller: Gemma's steps cost ~30x the tiny model's
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 8}, "sunny": {"type": "boolean"},
                   "unit": {"enum": ["C", "F"]}},
    "required": ["city", "sunny", "unit"],
    "additionalProperties": False,
}


@pytest.mark.slow
def test_gemma_whole_reply_follows_the_schema(gemma: LlamaEngine):
    """A model without harmony: the whole reply is constrained, from its first token."""
    for seed in range(RUNS):
        request = ChatRequest(
            messages=(Message("user", "What is the weather like in Paris today? Reply in JSON."),),
            max_tokens=48, sampling=Sampling.for_model(False, seed=seed), json_schema=GEMMA_SCHEMA)
        reasoning, answer, stats, _ = _reply(gemma, request)
        assert reasoning == ""
        assert stats.stop_reason == "end", (seed, answer)
        assert schema_errors(json.loads(answer), GEMMA_SCHEMA) == [], (seed, answer)


# -------------------------------------------------------------------------------- bad schemas


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "strnig"}, "strnig"),
        ({"$ref": "https://example.com/schema.json"}, "by URL"),
        ({"type": "string", "pattern": "abc"}, "Pattern must start with"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_a_schema_that_cannot_be_compiled_is_a_clear_error_before_any_event(
    forced, schema: Any, words: str
):
    engine, _ = forced
    with pytest.raises(SchemaError, match=r"JSON (schema|object)") as raised:
        engine.stream(_tiny_request(1, schema=schema))
    assert isinstance(raised.value, EngineError)
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)
    # the engine goes on working
    _, _, stats, _ = _reply(engine, ChatRequest(messages=(Message("user", "hi"),), max_tokens=4,
                                                sampling=Sampling.greedy()))
    assert stats.stop_reason == "length"  # greedy: the tiny model never ends by itself


def test_a_grammar_llama_cpp_refuses_is_a_schema_error(forced):
    from fireside.core.engine.structured import GrammarConstraint, GrammarTokens

    engine, _ = forced
    tokens = GrammarTokens.scan(engine._vocab, (), None)
    with pytest.raises(SchemaError, match="could not compile"):
        GrammarConstraint(engine._ctx, engine._vocab, "root ::= undefined-rule", tokens, bytes, Sampling())
    assert "root ::=" in schema_to_gbnf(SCHEMA)


# ------------------------------------------------------------------------------ final channel


@pytest.mark.parametrize(
    ("pieces", "opens_at"),
    [
        (["<|channel|>", "final", "<|message|>", "{"], 2),
        (["<|channel|>", "final", " ", "<|constrain|>", "json", "<|message|>"], 5),
        (["<|channel|>", "analysis", "<|message|>", "final", "<|end|>", "<|start|>", "assistant",
          "<|channel|>", "fin", "al", "<|message|>"], 10),
        # a missing <|end|><|start|>: <|channel|> inside content starts a new header
        (["<|channel|>", "analysis", "<|message|>", "hm", "<|channel|>", "final", "<|message|>"], 6),
        (["<|channel|>", "commentary", "<|message|>"], None),
        (["<|channel|>", "final", " to=functions.f", "<|message|>"], None),
        ([" to=python", "<|channel|>", "final", "<|message|>"], None),
        (["<|channel|>", "analysis", "<|message|>", "<|end|>", "<|start|>", "functions.f",
          "<|channel|>", "final", "<|message|>"], None),
    ],
)
def test_final_channel_watch_finds_where_the_answer_starts(pieces: list[str], opens_at: int | None):
    watch = FinalChannelWatch()
    opened = [i for i, piece in enumerate(pieces) if watch.feed(piece)]
    assert opened == ([] if opens_at is None else [opens_at])
