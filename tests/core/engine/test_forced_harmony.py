"""The real LlamaEngine on the tiny gpt-oss, forced to emit real harmony token sequences.

The forcing sampler (tests/helpers/forcing.py) picks the tokens; everything after sampling is the
production path: decoding into the KV cache, the harmony stream parser, stop handling and stats.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.engine.llama_engine import LlamaEngine
from tests.helpers.forcing import ForcingSampler, forcing_engine

LOAD = {"n_ctx": 1024, "n_batch": 64, "n_threads": 1}  # one thread: fastest on a shared CPU
ASK = ChatRequest(messages=(Message("user", "What is the weather in Paris?"),), max_tokens=200)


@pytest.fixture(scope="module")
def forced(tiny_gptoss_path: Path) -> tuple[LlamaEngine, ForcingSampler]:
    return forcing_engine(tiny_gptoss_path, **LOAD)


def _stream(engine: LlamaEngine, request: ChatRequest) -> tuple[list[Event], ReplyStats]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done) and sum(isinstance(e, Done) for e in events) == 1
    return events[:-1], done.stats


def _merged(events: list[Event]) -> list[Event]:
    """Adjacent deltas of one kind joined: the stream's shape whatever the token boundaries."""
    out: list[Event] = []
    for ev in events:
        last = out[-1] if out else None
        if isinstance(ev, ReasoningDelta) and isinstance(last, ReasoningDelta):
            out[-1] = ReasoningDelta(last.text + ev.text)
        elif isinstance(ev, AnswerDelta) and isinstance(last, AnswerDelta):
            out[-1] = AnswerDelta(last.text + ev.text)
        else:
            out.append(ev)
    return out


def test_forced_reasoning_then_answer_streams_as_the_model_wrote_it(forced):
    engine, forcing = forced
    analysis = "<|channel|>analysis<|message|>Hello world, the user is asking"
    final = "<|end|><|start|>assistant<|channel|>final<|message|>The fire side is warm<|return|>"
    tokens = forcing.force_text(engine, analysis + final)
    events, stats = _stream(engine, ASK)
    assert forcing.errors == [] and forcing.forced_last == len(tokens)
    assert _merged(events) == [
        ReasoningDelta("Hello world, the user is asking"),
        AnswerDelta("The fire side is warm"),
    ]
    assert stats.stop_reason == "end"
    assert stats.prompt_tokens == engine.count_prompt_tokens(ASK)
    # header tokens count towards the message they open; <|end|> and the next header go to the
    # answer they introduce, and the closing <|return|> too
    assert stats.reasoning_tokens == len(engine.tokenize(analysis, add_special=False))
    assert stats.answer_tokens == len(tokens) - stats.reasoning_tokens
    assert stats.tokens_per_s > 0 and stats.ttft_s > 0 and stats.reasoning_s > 0


def test_forcing_applies_to_one_reply_only(forced):
    engine, forcing = forced
    forcing.force_text(engine, "<|channel|>final<|message|>Hi<|return|>")
    events, stats = _stream(engine, ASK)
    assert _merged(events) == [AnswerDelta("Hi")] and stats.stop_reason == "end"
    greedy = ChatRequest(messages=ASK.messages, max_tokens=8, sampling=Sampling.greedy())
    _, stats = _stream(engine, greedy)
    assert forcing.forced_last == 0
    assert stats.stop_reason == "length"  # the tiny model never ends by itself


CALL_ARGS = '{"city":"Paris"}'


@pytest.mark.parametrize(
    "text",
    [
        f"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{CALL_ARGS}<|call|>",
        # the recipient in the role position, as harmony renders past calls
        f" to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{CALL_ARGS}<|call|>",
    ],
)
def test_a_function_call_ends_the_step_with_stop_reason_tool_call(forced, text: str):
    engine, forcing = forced
    tokens = forcing.force_text(engine, text)
    events, stats = _stream(engine, ASK)
    assert forcing.errors == [] and forcing.forced_last == len(tokens)
    assert events == [ToolCall("functions.get_weather", CALL_ARGS, "commentary", "json")]
    assert stats.stop_reason == "tool_call"
    assert stats.reasoning_tokens + stats.answer_tokens == len(tokens)
    # <|call|> itself is not decoded: the cache ends with the arguments, ready to continue
    assert engine.cache is not None
    assert engine.cache.n_past == stats.prompt_tokens + len(tokens) - 1


def test_python_call_on_the_analysis_channel_after_reasoning(forced):
    engine, forcing = forced
    forcing.force_text(
        engine,
        "<|channel|>analysis<|message|>Compute it with python.<|end|>"
        "<|start|>assistant<|channel|>analysis to=python code<|message|>print(6 * 7)<|call|>",
    )
    events, stats = _stream(engine, ASK)
    assert _merged(events) == [
        ReasoningDelta("Compute it with python."),
        ToolCall("python", "print(6 * 7)", "analysis", "code"),
    ]
    assert stats.stop_reason == "tool_call"


def test_a_call_that_does_not_end_the_reply_is_not_a_tool_call_stop(forced):
    """A call message closed with <|end|> and followed by a final answer: the stop is "end"."""
    engine, forcing = forced
    forcing.force_text(
        engine,
        f"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{CALL_ARGS}<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Done<|return|>",
    )
    events, stats = _stream(engine, ASK)
    assert _merged(events) == [
        ToolCall("functions.get_weather", CALL_ARGS, "commentary", "json"), AnswerDelta("Done"),
    ]
    assert stats.stop_reason == "end"


def _continuation_prompt(engine: LlamaEngine, request: ChatRequest, result: str) -> str:
    """The harmony prompt after a call and its result, as issue 11 section 1 specifies (the call
    re-rendered with the recipient in the role position, the result from the tool's role).
    Written out here: the engine's KV reuse is under test, not the renderer."""
    return (
        engine.render_prompt(request)
        + f" to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{CALL_ARGS}<|call|>"
        + f"<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{result}<|end|>"
        + "<|start|>assistant"
    )


def test_the_kv_cache_after_a_call_is_reused_by_the_continuation(
    tiny_gptoss_path: Path, monkeypatch: pytest.MonkeyPatch
):
    engine, forcing = forcing_engine(tiny_gptoss_path, **LOAD)
    request = ChatRequest(messages=ASK.messages, max_tokens=200, sampling=Sampling.greedy())
    # reasoning before the call, longer than the tiny model's sliding window: resuming needs the
    # snapshot taken at the end of the prompt
    tokens = forcing.force_text(
        engine,
        "<|channel|>analysis<|message|>The user wants the weather in Paris, so the tool is the "
        "way to go.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather "
        f"<|constrain|>json<|message|>{CALL_ARGS}<|call|>",
    )
    events, stats = _stream(engine, request)
    assert isinstance(events[-1], ToolCall) and stats.stop_reason == "tool_call"
    assert engine.cache is not None and engine.cache.n_past > 16 + stats.prompt_tokens
    first_prompt = stats.prompt_tokens

    continuation = _continuation_prompt(engine, request, '{"temperature_c": 18}')
    monkeypatch.setattr(engine, "render_prompt", lambda _request: continuation)
    request = ChatRequest(messages=ASK.messages, max_tokens=32, sampling=Sampling.greedy())
    restores = engine.cache.restores
    reused_events, reused = _stream(engine, request)
    assert reused.reused_prompt_tokens == first_prompt > 0
    assert engine.cache.restores == restores + 1
    assert reused.prompt_tokens == len(engine.tokenize(continuation)) > first_prompt + len(tokens)

    fresh_engine = LlamaEngine()  # reuses nothing
    fresh_engine.load(str(tiny_gptoss_path), engine._config)
    monkeypatch.setattr(fresh_engine, "render_prompt", lambda _request: continuation)
    fresh_events, fresh = _stream(fresh_engine, request)
    fresh_engine.unload()
    assert fresh.reused_prompt_tokens == 0
    assert reused_events == fresh_events and reused_events
    assert (reused.reasoning_tokens, reused.answer_tokens) == (fresh.reasoning_tokens, fresh.answer_tokens)
    engine.unload()
