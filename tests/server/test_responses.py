"""The Responses API through the official openai client, and its event stream against the one
recorded in openai/gpt-oss (tests/server/fixtures/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.server.conftest import Served, raw, serve
from tests.server.test_chat_completions import ANSWER, CALL, CALL_ARGS, REPLY, THINK

FIXTURE = Path(__file__).parent / "fixtures" / "gpt-oss-basic-event-stream.txt"
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
ID_SHAPE = re.compile(r"^(resp|rs|msg|fc|call)_[0-9a-f]{48}$")


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) for each event of a server-sent event stream."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def _skeleton(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """What must match the reference: names, order, sequence numbers, output indexes, item
    types and the keys of every event, item and part (not the text or the ids' values)."""
    out = []
    for name, data in events:
        item = data.get("item") or data.get("part") or {}
        out.append((name, data["type"], data.get("output_index"), item.get("type"),
                    tuple(data), tuple(sorted(item))))
    return out


def _ids(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in ("id", "item_id", "call_id") and
                isinstance(v, str)] + [i for v in value.values() for i in _ids(v)]
    if isinstance(value, list):
        return [i for v in value for i in _ids(v)]
    return []


def test_the_stream_matches_the_reference_event_by_event(served: Served):
    recorded = _sse(FIXTURE.read_text(encoding="utf-8"))
    served.force(REPLY)
    status, headers, body = raw(served, "POST", "/responses", {
        "model": "", "input": "hi", "instructions": "You are a helpful assistant.",
        "reasoning": {"effort": "low"}, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    ours = _sse(body.decode())
    # gpt-oss shows its reasoning: the reference server streams it as a reasoning_text part
    # inside the reasoning item; the recording (a model that hides it) has the item only.
    shown = [(n, d) for n, d in ours if not (d.get("item_id", "").startswith("rs_"))]
    assert [n for n, _ in ours if (n, _) not in shown] == [
        "response.content_part.added", *["response.reasoning_text.delta"] * (len(ours) - len(shown) - 3),
        "response.reasoning_text.done", "response.content_part.done"]
    # The recording's text came in 10 deltas, ours in however many tokens: compare one of each.
    def once(evs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [e for i, e in enumerate(evs) if not (e[0].endswith(".delta") and evs[i - 1][0] == e[0])]
    mine, theirs = once(shown), once(recorded)
    renumbered = [(n, {**d, "sequence_number": i}) for i, (n, d) in enumerate(mine)]
    # Our reasoning item carries its text as `content` (the reference server's ReasoningItem).
    for name, data in renumbered:
        if data.get("item", {}).get("type") == "reasoning":
            assert data["item"].pop("content") == ([] if name.endswith("added") else
                                                   [{"type": "reasoning_text", "text": THINK}])
    assert _skeleton(renumbered) == _skeleton(theirs)
    done = renumbered[-1][1]["response"]
    assert set(done) == set(theirs[-1][1]["response"])
    assert set(done["usage"]) == set(theirs[-1][1]["response"]["usage"])
    assert done["output"][1]["content"][0]["text"] == ANSWER
    assert all(ID_SHAPE.match(i) for _, d in ours for i in _ids(d)), _ids(ours)
    assert "Reasoning: low" in served.engine.prompts[-1]
    assert "# Instructions\n\nYou are a helpful assistant." in served.engine.prompts[-1]


def test_the_openai_client_reads_the_stream_and_the_whole_response(served: Served):
    c = served.client()
    served.force(REPLY)
    events = list(c.responses.create(model="", input="hi", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert deltas == ANSWER and reasoning == THINK
    assert events[-1].type == "response.completed"
    served.force(REPLY)
    r = c.responses.create(model="", input="hi", reasoning={"effort": "high"})
    assert r.output_text == ANSWER and r.status == "completed"
    assert r.usage is not None and r.usage.output_tokens_details.reasoning_tokens > 0
    assert "Reasoning: high" in served.engine.prompts[-1]


def test_function_calls_and_their_outputs_round_trip(served: Served):
    c = served.client()
    served.force(CALL)
    r = c.responses.create(model="", input="What is the weather in Paris?", tools=[WEATHER])
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].arguments == CALL_ARGS
    assert calls[0].id.startswith("fc_") and calls[0].call_id.startswith("call_")
    served.force(REPLY)
    r2 = c.responses.create(model="", previous_response_id=r.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"sky": "clear"}'}])
    assert r2.output_text == ANSWER
    prompt = served.engine.prompts[-1]
    assert (f"to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{CALL_ARGS}"
            "<|call|>") in prompt
    assert "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>" in prompt


def test_a_streamed_function_call_has_its_argument_events(served: Served):
    served.force(CALL)
    events = list(served.client().responses.create(model="", input="weather?", tools=[WEATHER],
                                                    stream=True))
    names = [e.type for e in events]
    i = names.index("response.function_call_arguments.delta")
    assert names[i - 1: i + 3] == ["response.output_item.added", "response.function_call_arguments.delta",
                                   "response.function_call_arguments.done", "response.output_item.done"]
    assert events[i + 1].arguments == CALL_ARGS


def test_text_format_json_schema_and_max_output_tokens(served: Served):
    c = served.client()
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    served.force(f"<|channel|>analysis<|message|>{THINK}<|end|><|start|>assistant<|channel|>final<|message|>")
    r = c.responses.create(model="", input="ok?", max_output_tokens=400, text={
        "format": {"type": "json_schema", "name": "ok", "schema": schema}})
    assert isinstance(json.loads(r.output_text)["ok"], bool)
    short = c.responses.create(model="", input="hi", max_output_tokens=3, temperature=0)
    assert short.status == "incomplete" and short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"


def test_input_items_of_every_kind_reach_the_prompt(served: Served):
    served.force(REPLY)
    served.client().responses.create(model="", instructions="Be brief.", input=[
        {"role": "user", "content": "Hello"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}])
    prompt = served.engine.prompts[-1]
    assert ("<|start|>user<|message|>Hello<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|end|>"
            "<|start|>developer<|message|># Instructions\n\nAnswer in French.<|end|>"
            "<|start|>user<|message|>Weather?<|end|><|start|>assistant") in prompt
    assert "# Instructions\n\nBe brief." in prompt


def test_previous_response_id_survives_a_restart(tiny_gptoss_path: Path, tmp_path: Path):
    store = tmp_path / "history.sqlite3"
    first = serve(tiny_gptoss_path, None, store)
    try:
        first.force(REPLY)
        r = first.client().responses.create(model="", input="Remember the word: ember.",
                                            instructions="Be brief.")
    finally:
        first.stop()
    again = serve(tiny_gptoss_path, None, store)
    try:
        c = again.client()
        assert c.responses.retrieve(r.id).output_text == ANSWER
        again.force(REPLY)
        c.responses.create(model="", previous_response_id=r.id, input="Which word?")
        prompt = again.engine.prompts[-1]
        assert ("<|start|>user<|message|>Remember the word: ember.<|end|><|start|>assistant"
                f"<|channel|>final<|message|>{ANSWER}<|end|><|start|>user<|message|>Which word?") in prompt
        assert "# Instructions\n\nBe brief." in prompt  # carried over, as the reference does
        unstored = c.responses.create(model="", input="hi", store=False, max_output_tokens=2)
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(unstored.id)
    finally:
        again.stop()
