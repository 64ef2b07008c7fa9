"""Every error status in OpenAI's shape, a client that leaves mid-stream, and several at once.

Nothing a client sends may crash the server or leave the engine stuck: each test ends by
checking the engine still answers.
"""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from tests.server.conftest import KEY, Served, raw, serve
from tests.server.test_chat_completions import ANSWER, ASK, REPLY


def _error(body: bytes) -> dict[str, object]:
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def _still_answers(served: Served) -> None:
    served.force(REPLY)
    r = served.client().chat.completions.create(model="", messages=ASK)
    assert r.choices[0].message.content == ANSWER


def test_401_without_or_with_a_wrong_key(served: Served):
    for key in (None, "wrong"):
        status, _, body = raw(served, "GET", "/models", key=key)
        assert status == 401 and _error(body)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        served.client("fs-wrong").chat.completions.create(model="", messages=ASK)
    status, _, _ = raw(served, "POST", "/chat/completions", {"model": "", "messages": ASK}, key=None)
    assert status == 401
    _still_answers(served)


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'{"messages": "hi"}',
                                     b'{"messages": [{"role": "wizard", "content": "x"}]}',
                                     b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
                                     b'{"messages": [{"role": "user", "content": 5}]}',
                                     b'{"messages": [{"role": "user", "content": "x"}],'
                                     b' "tool_choice": "required"}',
                                     b'{"messages": [{"role": "user", "content": "x"}], "response_format":'
                                     b' {"type": "json_schema", "json_schema": {"schema": {"$ref": "http://x"}}}}'])
def test_400_for_malformed_or_invalid_chat_requests(served: Served, payload: bytes):
    status, headers, body = raw(served, "POST", "/chat/completions", data=payload)
    assert status == 400 and headers["content-type"] == "application/json"
    assert _error(body)["type"] == "invalid_request_error"


@pytest.mark.parametrize("payload", [{"input": 5}, {"input": [{"type": "image", "x": 1}]},
                                     {"input": [{"type": "function_call_output", "output": "x"}]},
                                     {"input": "hi", "reasoning": {"effort": "max"}},
                                     {"input": "hi", "text": {"format": {"type": "xml"}}}])
def test_400_for_invalid_responses_requests(served: Served, payload: dict[str, object]):
    status, _, body = raw(served, "POST", "/responses", {"model": "", **payload})
    assert status == 400 and _error(body)["param"]


def test_400_when_the_conversation_does_not_fit_the_context(served: Served):
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(openai.BadRequestError) as e:
        served.client().chat.completions.create(model="", messages=long)
    assert e.value.code == "context_length_exceeded"
    _still_answers(served)


def test_404_for_an_unknown_model_response_or_url(served: Served):
    with pytest.raises(openai.NotFoundError) as e:
        served.client().chat.completions.create(model="gpt-5", messages=ASK)
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        served.client().chat.completions.create(model="/etc/passwd", messages=ASK)
    with pytest.raises(openai.NotFoundError):
        served.client().responses.retrieve("resp_" + "0" * 48)
    with pytest.raises(openai.NotFoundError):
        served.client().responses.create(model="", input="hi", previous_response_id="resp_nope")
    status, _, body = raw(served, "GET", "/nowhere")
    assert status == 404 and "/v1/chat/completions" in str(_error(body)["message"])
    status, _, body = raw(served, "GET", "/chat/completions")
    assert status == 405 and _error(body)
    _still_answers(served)


def test_413_for_a_request_too_large(served: Served):
    big = json.dumps({"model": "", "messages": [{"role": "user", "content": "x" * (9 << 20)}]})
    status, _, body = raw(served, "POST", "/chat/completions", data=big.encode())
    assert status == 413 and _error(body)
    _still_answers(served)


def test_no_cors_headers_unless_origins_are_listed(served: Served):
    _, headers, _ = raw(served, "GET", "/models", headers={"Origin": "https://evil.example"})
    assert not any(h.startswith("access-control-") for h in headers)


def test_503_when_a_model_cannot_be_loaded_and_404_when_loading_is_off(
        tiny_gptoss_path: Path, tmp_path: Path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gptoss_path.read_bytes()[: 1 << 16])  # a download cut short
    s = serve(tiny_gptoss_path, None, tmp_path / "h.sqlite3", more=(str(broken),),
              cors_origins=("http://localhost:3000",))
    try:
        with pytest.raises(openai.InternalServerError) as e:
            s.client().chat.completions.create(model="broken", messages=ASK)
        assert e.value.status_code == 503 and "cannot be loaded" in str(e.value.message)
        _, headers, _ = raw(s, "GET", "/models", headers={"Origin": "http://localhost:3000"})
        assert headers["access-control-allow-origin"] == "http://localhost:3000"
        # the failed load left no model: a request for the tiny one loads it again
        tiny = tiny_gptoss_path.name.removesuffix(".gguf")
        r = s.client().chat.completions.create(model=tiny, messages=ASK, max_tokens=2)
        assert r.model == tiny
    finally:
        s.stop()
    off = serve(tiny_gptoss_path, None, tmp_path / "h2.sqlite3", more=(str(broken),),
                load_on_demand=False)
    try:
        with pytest.raises(openai.InternalServerError) as e:
            off.client().chat.completions.create(model="broken", messages=ASK)
        assert e.value.status_code == 503 and "turned off" in str(e.value.message)
    finally:
        off.stop()


def test_a_client_that_leaves_mid_stream_stops_generation_within_one_token(served: Served):
    engine = served.engine
    served.forcing.force([])  # nothing forced: greedy decoding of the tiny model never ends
    hold = engine.hold = threading.Semaphore(5)  # five events, then the engine waits between tokens
    url = urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "", "messages": ASK, "stream": True, "temperature": 0}).encode(),
            {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200
        assert r.readline().startswith(b"data: ")  # the stream is flowing
        cancel = engine.cancels[-1]
        assert not cancel.is_set()
        r.close()
        conn.close()  # the client goes away mid-reply
        assert cancel.wait(10), "the server did not notice the client leaving"
    finally:
        conn.close()
        engine.hold = None
        hold.release(1000)  # let the held engine go on: it must stop at the next token
    assert engine.idle.wait(10), "generation went on after the client left"
    assert len(engine.after_cancel) <= 2, engine.after_cancel  # the held token, then Done
    assert engine.after_cancel[-1].stats.stop_reason == "cancelled"  # type: ignore[union-attr]
    _still_answers(served)


def test_four_concurrent_streams_all_complete(served: Served):
    results: dict[int, str] = {}

    def one(i: int) -> None:
        chunks = list(served.client().chat.completions.create(
            model="", messages=[{"role": "user", "content": f"Question {i}"}], max_tokens=16, temperature=0,
            stream=True))
        results[i] = chunks[-1].choices[0].finish_reason or ""

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == dict.fromkeys(range(4), "length")
    asked = [p for p in served.engine.prompts[-4:]]
    assert sorted(int(p.rsplit("Question ", 1)[1][0]) for p in asked) == [0, 1, 2, 3]
    _still_answers(served)
