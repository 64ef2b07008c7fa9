"""Chat Completions through the official openai client against the real server and engine."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import Served

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
THINK = "The user asks about the weather"
ANSWER = "It is sunny in Paris"
REPLY = (f"<|channel|>analysis<|message|>{THINK}<|end|>"
         f"<|start|>assistant<|channel|>final<|message|>{ANSWER}<|return|>")
CALL_ARGS = '{"city":"Paris"}'
CALL = (f"<|channel|>analysis<|message|>{THINK}<|end|><|start|>assistant<|channel|>commentary "
        f"to=functions.get_weather <|constrain|>json<|message|>{CALL_ARGS}<|call|>")
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def test_a_reply_with_its_reasoning_usage_and_the_effort_in_the_prompt(served: Served):
    served.force(REPLY)
    r = served.client().chat.completions.create(model="", messages=ASK, reasoning_effort="high")
    choice = r.choices[0]
    assert choice.message.content == ANSWER and choice.finish_reason == "stop"
    extra = choice.message.model_extra or {}
    assert extra["reasoning_content"] == THINK and extra["reasoning"] == THINK
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    assert r.usage.completion_tokens > r.usage.completion_tokens_details.reasoning_tokens
    assert r.model.startswith("tiny-gpt-oss")
    assert "Reasoning: high" in served.engine.prompts[-1]
    served.force(REPLY)
    served.client().chat.completions.create(model="", messages=ASK, reasoning_effort="low")
    assert "Reasoning: low" in served.engine.prompts[-1]


def test_streaming_sends_reasoning_then_answer_then_usage(served: Served):
    served.force(REPLY)
    chunks = list(served.client().chat.completions.create(
        model="", messages=ASK, stream=True, stream_options={"include_usage": True}))
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                        for c in chunks if c.choices)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning == THINK and answer == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0


def test_max_tokens_cuts_the_reply_with_finish_reason_length(served: Served):
    r = served.client().chat.completions.create(model="", messages=ASK, max_completion_tokens=3,
                                                temperature=0)
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens <= 3


def test_stop_sequences_cut_the_answer_where_they_appear(served: Served):
    served.force(REPLY)
    r = served.client().chat.completions.create(model="", messages=ASK, stop=["in Par"])
    assert r.choices[0].message.content == "It is sunny "
    assert r.choices[0].finish_reason == "stop"
    served.force(REPLY)
    chunks = list(served.client().chat.completions.create(model="", messages=ASK, stop="sunny",
                                                          stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "It is "


def test_the_same_seed_gives_the_same_reply(served: Served):
    c = served.client()
    a, b, other = (c.chat.completions.create(model="", messages=ASK, max_tokens=12, seed=s,
                                             temperature=1.0, top_p=0.9) for s in (7, 7, 8))
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.choices[0].message.content != other.choices[0].message.content


def test_a_tool_call_round_trip(served: Served):
    c = served.client()
    served.force(CALL)
    before = len(served.engine.prompts)
    r = c.chat.completions.create(model="", messages=ASK, tools=[WEATHER], tool_choice="auto")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")
    # the function is the client's: the reply ends at the call, nothing is run or answered
    assert choice.message.content is None and len(served.engine.prompts) == before + 1
    assert "namespace functions" in served.engine.prompts[-1]
    assert "type get_weather = (_: {" in served.engine.prompts[-1]
    # The client runs the function and sends the whole conversation back, reasoning included.
    served.force(REPLY)
    back = [*ASK, {"role": "assistant", "content": None, "reasoning_content": THINK,
                   "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'}]
    r2 = c.chat.completions.create(model="", messages=back, tools=[WEATHER])
    assert r2.choices[0].message.content == ANSWER
    prompt = served.engine.prompts[-1]
    assert (f"<|start|>assistant<|channel|>analysis<|message|>{THINK}<|end|>"
            f"<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"
            f"<|message|>{CALL_ARGS}<|call|>") in prompt
    assert ('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>'
            '{"sky": "clear"}<|end|>') in prompt


def test_a_streamed_tool_call(served: Served):
    served.force(CALL)
    chunks = list(served.client().chat.completions.create(model="", messages=ASK, tools=[WEATHER],
                                                          stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == CALL_ARGS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_offers_no_tools_and_a_named_one_only_that_one(served: Served):
    c = served.client()
    other = {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    c.chat.completions.create(model="", messages=ASK, tools=[WEATHER, other], tool_choice="none",
                              max_tokens=1)
    assert "namespace functions" not in served.engine.prompts[-1]
    c.chat.completions.create(model="", messages=ASK, tools=[WEATHER, other], max_tokens=1,
                              tool_choice={"type": "function", "function": {"name": "get_time"}})
    prompt = served.engine.prompts[-1]
    assert "type get_time" in prompt and "type get_weather" not in prompt
    assert "Call the function get_time before you answer." in prompt


def test_structured_output_follows_the_schema(served: Served):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 6},
                                               "sunny": {"type": "boolean"}},
              "required": ["city", "sunny"], "additionalProperties": False}
    served.force(f"<|channel|>analysis<|message|>{THINK}<|end|>"
                 "<|start|>assistant<|channel|>final<|message|>")
    r = served.client().chat.completions.create(
        model="", messages=ASK, max_tokens=400, seed=1,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}})
    value = json.loads(r.choices[0].message.content or "")
    assert set(value) == {"city", "sunny"} and isinstance(value["sunny"], bool)
    assert r.choices[0].finish_reason == "stop"


def test_a_resent_conversation_reuses_the_cached_prefix(served: Served):
    c = served.client()
    served.force(REPLY)
    first = c.chat.completions.create(model="", messages=ASK)
    served.force(REPLY)
    longer = [*ASK, {"role": "assistant", "content": ANSWER},
              {"role": "user", "content": "And tomorrow?"}]
    second = c.chat.completions.create(model="", messages=longer)
    assert first.usage is not None and second.usage is not None
    assert second.usage.prompt_tokens_details is not None
    cached = second.usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= first.usage.prompt_tokens - 2 and cached < second.usage.prompt_tokens


@pytest.mark.parametrize("field,value", [("reasoning_effort", "extreme"), ("temperature", 3),
                                         ("max_tokens", 0), ("n", 2), ("stop", [""]),
                                         ("tools", [{"type": "web_search"}])])
def test_invalid_fields_are_400_naming_the_field(served: Served, field: str, value: object):
    import openai

    with pytest.raises(openai.BadRequestError) as e:
        served.client().chat.completions.create(model="", messages=ASK, **{field: value})
    assert e.value.status_code == 400
    body = e.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert body["param"] == field or body["param"].startswith(field)
