"""RemoteEngine against a scripted OpenAI-compatible server: the wire shapes both ways, and every
failure a user meets (401, 429, 500, a cut stream, a stall, no server) ending in words, not hangs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fireside.core.chat.conversation import ChatRequest, Effort, FunctionTool, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ToolCall
from fireside.core.engine.protocol import ContextOverflow, EngineError, ModelLoadError
from fireside.core.engine.remote_engine import Endpoint, RemoteEngine, retry_after_s
from tests.helpers.openai_peer import OpenAIPeer, Reply, chat_chunks, responses_events

WEATHER = FunctionTool("get_weather", "Weather for a city",
                       {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
def peer() -> Iterator[OpenAIPeer]:
    with OpenAIPeer() as p:
        yield p


def _engine(peer: OpenAIPeer, **kw: Any) -> RemoteEngine:
    engine = RemoteEngine(Endpoint(peer.url, api_key="sk-test", **kw))
    engine.load("m")
    return engine


def _ask(text: str = "Hi", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **kw)


def _split(events: list[Event]) -> tuple[str, str, list[ToolCall], Done]:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert isinstance(events[-1], Done) and sum(isinstance(e, Done) for e in events) == 1
    return reasoning, answer, calls, events[-1]


def test_falls_back_to_chat_completions_once_per_endpoint(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks(["Let me ", "think."], ["Hello", " there"], usage={
        "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
        "completion_tokens_details": {"reasoning_tokens": 2}}))
    engine = _engine(peer)
    reasoning, answer, calls, done = _split(list(engine.stream(_ask())))
    assert (reasoning, answer, calls) == ("Let me think.", "Hello there", [])
    s = done.stats
    assert (s.stop_reason, s.prompt_tokens, s.reasoning_tokens, s.answer_tokens) == ("end", 9, 2, 2)
    assert s.ttft_s > 0 and s.total_s >= s.ttft_s and s.message == ""
    assert [r[0] for r in peer.requests] == ["/v1/responses", "/v1/chat/completions"]
    assert peer.requests[1][1]["authorization"] == "Bearer sk-test"
    # Remembered per endpoint: another engine on the same URL goes straight to Chat Completions.
    _split(list(_engine(peer).stream(_ask())))
    assert [r[0] for r in peer.requests][2:] == ["/v1/chat/completions"]


def test_chat_completions_body_carries_history_tools_effort_schema_and_sampling(
        peer: OpenAIPeer) -> None:
    peer.responses_api = False
    call = ToolCall("functions.get_weather", '{"city": "Paris"}', call_id="call_7",
                    content_type="json")
    request = ChatRequest(
        messages=(Message("user", "Old question"),
                  Message("assistant", "Old answer", reasoning="old thoughts"),
                  Message("user", "Weather in Paris?"),
                  Message("assistant", "", reasoning="I should call the tool", tool_calls=(call,)),
                  Message("tool", '{"temp": 21}', tool_name="functions.get_weather",
                          call_id="call_7")),
        system_prompt="Be brief.", effort=Effort.HIGH, max_tokens=50,
        sampling=Sampling(temperature=0.5, top_p=0.9, seed=3), tools=(WEATHER,),
        json_schema={"type": "object", "properties": {"t": {"type": "number"}}})
    _split(list(_engine(peer).stream(request)))
    body = peer.requests[-1][2]
    assert body["model"] == "m" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Old question"},
        {"role": "assistant", "content": "Old answer"},  # an earlier turn's reasoning is dropped
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "reasoning_content": "I should call the tool",
         "tool_calls": [{"id": "call_7", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": '{"temp": 21}'},
    ]
    assert body["reasoning_effort"] == "high" and body["max_tokens"] == 50
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.5, 0.9, 3)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": dict(WEATHER.parameters)}}]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"] == {"t": {"type": "number"}}


def test_streamed_tool_call_pieces_become_one_tool_call_then_done(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks(["Need weather."], [], finish="tool_calls", tool_calls=[
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]))
    reasoning, answer, calls, done = _split(list(_engine(peer).stream(_ask(tools=(WEATHER,)))))
    assert reasoning == "Need weather." and answer == ""
    assert calls == [ToolCall("functions.get_weather", '{"city": "Oslo"}', call_id="call_1",
                              content_type="json")]
    assert done.stats.stop_reason == "tool_call"


def test_python_tool_is_offered_as_a_function_and_comes_back_as_python(peer: OpenAIPeer) -> None:
    code = "print(6 * 7)"
    peer.default = Reply(events=chat_chunks([], [], finish="tool_calls", tool_calls=[
        {"id": "call_2", "name": "python", "arguments": json.dumps({"code": code})}]))
    _, _, calls, _done = _split(list(_engine(peer).stream(_ask(python_tool=True))))
    assert calls == [ToolCall("python", code, channel="analysis", call_id="call_2")]
    assert peer.requests[-1][2]["tools"][0]["function"]["name"] == "python"


def test_reads_the_reasoning_field_ollama_and_lm_studio_send(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks(["hmm"], ["ok"], reasoning_field="reasoning"))
    reasoning, answer, _, done = _split(list(_engine(peer).stream(_ask())))
    assert (reasoning, answer) == ("hmm", "ok")
    assert (done.stats.reasoning_tokens, done.stats.answer_tokens) == (1, 1)  # counted by chunk


def test_responses_api_events_and_body() -> None:
    with OpenAIPeer(responses_api=True) as peer:
        peer.default = Reply(events=responses_events(["Plan: ", "call it."], [], call={
            "call_id": "call_9", "name": "get_weather", "arguments": '{"city":"Rome"}'}))
        earlier = ToolCall("functions.get_weather", '{"city":"Bern"}', call_id="call_8")
        request = ChatRequest(messages=(
            Message("user", "Weather?"),
            Message("assistant", "", reasoning="first look", tool_calls=(earlier,)),
            Message("tool", "cold", tool_name="functions.get_weather", call_id="call_8")),
            system_prompt="Be brief.", effort=Effort.LOW, max_tokens=64, tools=(WEATHER,),
            json_schema={"type": "object"})
        reasoning, answer, calls, done = _split(list(_engine(peer).stream(request)))
    assert (reasoning, answer) == ("Plan: call it.", "")
    assert calls == [ToolCall("functions.get_weather", '{"city":"Rome"}', call_id="call_9",
                              content_type="json")]
    s = done.stats
    assert (s.stop_reason, s.prompt_tokens, s.reasoning_tokens, s.answer_tokens) == ("tool_call", 12, 2, 0)
    path, _, body = peer.requests[-1]
    assert path == "/v1/responses" and len(peer.requests) == 1
    assert body["instructions"] == "Be brief." and body["reasoning"] == {"effort": "low"}
    assert body["max_output_tokens"] == 64 and body["store"] is False
    assert body["tools"] == [{"type": "function", "name": "get_weather",
                              "description": "Weather for a city",
                              "parameters": dict(WEATHER.parameters), "strict": False}]
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["input"] == [
        {"role": "user", "content": "Weather?"},
        {"type": "reasoning", "summary": [],
         "content": [{"type": "reasoning_text", "text": "first look"}]},
        {"type": "function_call", "call_id": "call_8", "name": "get_weather",
         "arguments": '{"city":"Bern"}'},
        {"type": "function_call_output", "call_id": "call_8", "output": "cold"},
    ]


def test_401_is_a_clear_error_before_any_event(peer: OpenAIPeer) -> None:
    peer.responses_api = True
    peer.plan.append(Reply(status=401, body={"error": {"message": "Incorrect API key provided",
                                                      "type": "invalid_request_error"}}))
    with pytest.raises(EngineError, match=r"refused the API key.*Incorrect API key"):
        list(_engine(peer).stream(_ask()))


def test_429_with_retry_after_is_waited_out_once(peer: OpenAIPeer) -> None:
    peer.responses_api = True
    peer.default = Reply(events=responses_events([], ["fine"]))
    peer.plan.append(Reply(status=429, body={"error": {"message": "Slow down"}},
                           headers={"retry-after": "0.2"}))
    t0 = time.perf_counter()
    _, answer, _, done = _split(list(_engine(peer).stream(_ask())))
    assert answer == "fine" and done.stats.stop_reason == "end"
    assert time.perf_counter() - t0 >= 0.2 and len(peer.requests) == 2


def test_a_second_429_says_when_to_retry(peer: OpenAIPeer) -> None:
    peer.responses_api = True
    for _ in range(2):
        peer.plan.append(Reply(status=429, body={"error": {"message": "Rate limit"}},
                               headers={"retry-after": "0"}))
    with pytest.raises(EngineError, match=r"limiting requests.*Try again in 1 seconds"):
        list(_engine(peer).stream(_ask()))
    assert len(peer.requests) == 2


def test_a_long_retry_after_is_reported_not_waited(peer: OpenAIPeer) -> None:
    peer.responses_api = True
    peer.plan.append(Reply(status=429, body={"error": {"message": "Quota"}},
                           headers={"retry-after": "600"}))
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match=r"Try again in about 10 minutes \(at \d\d:\d\d\)"):
        list(_engine(peer).stream(_ask()))
    assert time.perf_counter() - t0 < 5 and len(peer.requests) == 1


def test_retry_after_http_date() -> None:
    import httpx2

    r = httpx2.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"})
    assert retry_after_s(r, now=1445412480.0) == pytest.approx(30.0)
    assert retry_after_s(httpx2.Response(429, headers={"retry-after-ms": "1500"})) == 1.5
    assert retry_after_s(httpx2.Response(429)) is None


def test_500_is_a_server_error_message(peer: OpenAIPeer) -> None:
    peer.responses_api = True
    peer.plan.append(Reply(status=500, body={"error": {"message": "CUDA out of memory"}}))
    with pytest.raises(EngineError, match=r"server error \(500: CUDA out of memory\)"):
        list(_engine(peer).stream(_ask()))


def test_a_stream_cut_mid_reply_keeps_what_arrived_and_ends_in_error(peer: OpenAIPeer) -> None:
    events = chat_chunks(["a", "b"], ["Hel", "lo", " world"])
    peer.default = Reply(events=events, cut_after=5)  # role, 2 reasoning, 2 answer, then cut
    reasoning, answer, _, done = _split(list(_engine(peer).stream(_ask())))
    assert (reasoning, answer) == ("ab", "Hello")
    assert done.stats.stop_reason == "error" and "broke off" in done.stats.message
    assert done.stats.as_json()["message"] == done.stats.message


def test_a_stream_that_ends_without_finishing_is_reported(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks([], ["Par", "tial"])[:-1], done_marker=False)
    _, answer, _, done = _split(list(_engine(peer).stream(_ask())))
    assert answer == "Partial" and done.stats.stop_reason == "error"
    assert "ended before the reply was complete" in done.stats.message


def test_a_stall_times_out_instead_of_hanging(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks([], ["one", "two"]), stall_after=2)
    t0 = time.perf_counter()
    _, answer, _, done = _split(list(_engine(peer, read_timeout_s=0.5).stream(_ask())))
    assert answer == "one" and done.stats.stop_reason == "error"
    assert "did not answer within 0.5 seconds" in done.stats.message
    assert time.perf_counter() - t0 < 10
    # Stalled before the first event: an EngineError, as the protocol promises.
    peer.default = Reply(events=chat_chunks([], ["x"]), stall_after=0)
    with pytest.raises(EngineError, match="did not answer"):
        list(_engine(peer, read_timeout_s=0.5).stream(_ask()))


def test_an_unreachable_host_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    engine = RemoteEngine(Endpoint(f"http://127.0.0.1:{port}/v1", connect_timeout_s=2))
    with pytest.raises(ModelLoadError, match=f"Could not reach 127.0.0.1:{port}"):
        engine.load("m")


def test_cancel_closes_the_stream_between_chunks(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks([], ["a", "b", "c"]), stall_after=3)
    cancel = threading.Event()
    seen: list[Event] = []
    for ev in _engine(peer).stream(_ask(), cancel):
        seen.append(ev)
        if isinstance(ev, AnswerDelta):
            cancel.set()
    assert seen[-1] == Done(seen[-1].stats) and seen[-1].stats.stop_reason == "cancelled"
    assert [e.text for e in seen if isinstance(e, AnswerDelta)] == ["a"]


def test_cancel_cuts_a_silent_server_at_once(peer: OpenAIPeer) -> None:
    peer.default = Reply(events=chat_chunks([], ["a", "b"]), stall_after=2)  # silent after "a"
    cancel = threading.Event()
    seen: list[Event] = []
    t0 = 0.0
    for ev in _engine(peer, read_timeout_s=60).stream(_ask(), cancel):
        seen.append(ev)
        if isinstance(ev, AnswerDelta):
            cancel.set()
            t0 = time.perf_counter()
    assert time.perf_counter() - t0 < 5  # not the 60 s read timeout
    assert [type(e) for e in seen] == [AnswerDelta, Done]
    assert isinstance(seen[-1], Done) and seen[-1].stats.stop_reason == "cancelled"


def test_load_checks_the_model_list() -> None:
    with OpenAIPeer(models=("gpt-oss-120b", "gpt-oss-20b")) as peer:
        engine = RemoteEngine(Endpoint(peer.url))
        with pytest.raises(ModelLoadError, match=r"does not offer the model “nope”.*gpt-oss-120b"):
            engine.load("nope")
        info = engine.load("gpt-oss-120b")
        assert (info.name, info.prompt_format, info.supports_effort) == ("gpt-oss-120b", "remote", True)
        assert engine.list_models() == ["gpt-oss-120b", "gpt-oss-20b"]
    with OpenAIPeer(models=("only",)) as peer:
        assert RemoteEngine(Endpoint(peer.url)).load("").name == "only"
    with OpenAIPeer(models_status=404) as peer:  # a gateway without a model list
        assert RemoteEngine(Endpoint(peer.url)).load("anything").name == "anything"


def test_a_server_refusing_reasoning_fields_is_retried_without_them(peer: OpenAIPeer) -> None:
    peer.plan.append(Reply(status=400, body={"error": {
        "message": "Unrecognized request argument supplied: reasoning_effort"}}))
    _, answer, _, _ = _split(list(_engine(peer).stream(_ask())))
    assert answer == "Hello there"
    assert "reasoning_effort" in peer.requests[1][2] and "reasoning_effort" not in peer.requests[2][2]


def test_context_overflow_from_the_server(peer: OpenAIPeer) -> None:
    peer.plan.append(Reply(status=400, body={"error": {
        "message": "This model's maximum context length is 8192 tokens. However, you requested "
                   "9000 tokens.", "code": "context_length_exceeded"}}))
    with pytest.raises(ContextOverflow) as info:
        list(_engine(peer).stream(_ask()))
    assert info.value.n_ctx == 8192 and info.value.prompt_tokens > 0


def test_render_prompt_shows_the_request_body(peer: OpenAIPeer) -> None:
    text = _engine(peer).render_prompt(_ask("Hi there"))
    first, _, rest = text.partition("\n")
    assert first == f"POST {peer.url}/responses"
    assert json.loads(rest)["input"] == [{"role": "user", "content": "Hi there"}]


def test_an_unreadable_ca_bundle_is_reported(tmp_path: Any) -> None:
    with pytest.raises(EngineError, match="CA bundle"):
        RemoteEngine(Endpoint("https://127.0.0.1:9/v1", ca_bundle=str(tmp_path / "none.pem")))


def test_tls_is_always_verified_and_a_custom_ca_bundle_is_trusted(tmp_path: Any) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    bundle = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with OpenAIPeer(tls=server_ctx) as peer:
        assert peer.url.startswith("https://")
        with pytest.raises(ModelLoadError, match=r"could not be verified.*CA bundle"):
            RemoteEngine(Endpoint(peer.url, connect_timeout_s=5)).load("m")
        engine = RemoteEngine(Endpoint(peer.url, ca_bundle=str(bundle), connect_timeout_s=5))
        engine.load("m")
        _, answer, _, done = _split(list(engine.stream(_ask())))
        assert answer == "Hello there" and done.stats.stop_reason == "end"
        engine.close()


def test_a_preset_with_adapters_is_refused_before_sending_and_the_turn_says_why(
        peer: OpenAIPeer, tmp_path: Any) -> None:
    """LoRA adapters apply only to a model on this computer: a turn that asks for them on a remote
    engine is not sent (the peer sees no request), and the saved reply carries the sentence."""
    from fireside.core.chat.conversation import AdapterUse
    from fireside.core.chat.session import ChatSession, Failed, TurnOptions
    from fireside.core.history.store import Store

    engine = _engine(peer, name="Foundry")
    options = TurnOptions(adapters=(AdapterUse("/adapters/legal-v2.gguf", 0.8),
                                    AdapterUse("/adapters/off.gguf", 0.0)))
    with Store(tmp_path / "history.sqlite3") as store:
        events = list(ChatSession(engine, store).send(None, "Summarise the contract.", options))
        assert isinstance(events[-1], Failed)
        said = events[-1].message
        assert "legal-v2:0.8" in said and "off" not in said and "Foundry is a remote engine" in said
        assert "Choose a preset without adapters, or a local model" in said
        assert peer.requests == []
        (cid,) = [c.id for c in store.conversations()]
        question, reply = store.active_path(cid)
        assert question.text == "Summarise the contract." and reply.status == "error"
    # scale 0 changes nothing, so such a preset is sent as it is
    peer.default = Reply(events=chat_chunks([], ["Fine."]))
    plain = (AdapterUse("/adapters/off.gguf", 0.0),)
    _r, answer, _c, _d = _split(list(engine.stream(_ask(adapters=plain))))
    assert answer == "Fine." and len(peer.requests) >= 1
