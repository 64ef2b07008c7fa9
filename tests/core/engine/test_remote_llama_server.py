"""RemoteEngine against a real peer: llama-cpp-python's own server serving Gemma 3 270M.

The server has no /v1/responses, so the engine's fallback to Chat Completions runs for real, and
a reply streams as events matching, token for token, what the bare `openai` client receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done
from fireside.core.engine.protocol import EngineError, ModelLoadError
from fireside.core.engine.remote_engine import Endpoint, RemoteEngine
from tests.helpers.llama_server import ALIAS, KEY, llama_server

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def server(gemma_path: Path) -> Iterator[str]:
    with llama_server(gemma_path) as url:
        yield url


def _request(max_tokens: int = 12) -> ChatRequest:
    return ChatRequest(messages=(Message("user", QUESTION),), max_tokens=max_tokens,
                       sampling=Sampling(temperature=0.0, top_p=1.0, seed=0))


def test_a_reply_streams_as_events_after_falling_back_to_chat_completions(server: str) -> None:
    engine = RemoteEngine(Endpoint(server, api_key=KEY))
    try:
        info = engine.load(ALIAS)
        assert (info.name, info.prompt_format) == (ALIAS, "remote")
        events = list(engine.stream(_request()))
        deltas = [e for e in events if isinstance(e, AnswerDelta)]
        assert len(deltas) >= 2 and isinstance(events[-1], Done)
        stats = events[-1].stats
        assert stats.stop_reason in ("end", "length") and stats.message == ""
        assert stats.answer_tokens == len(deltas) and stats.ttft_s > 0
        # The fallback is remembered: the next request goes straight to Chat Completions.
        assert engine.render_prompt(_request()).startswith(f"POST {server}/chat/completions")
        # Same text, token for token, as the bare client gets for the same request.
        bare = openai.OpenAI(base_url=server, api_key=KEY, max_retries=0)
        with bare:
            chunks = bare.chat.completions.create(
                model=ALIAS, messages=[{"role": "user", "content": QUESTION}], stream=True,
                max_tokens=12, temperature=0.0, top_p=1.0, seed=0)
            expected = [c.choices[0].delta.content for c in chunks
                        if c.choices and c.choices[0].delta.content]
        assert [d.text for d in deltas] == expected
    finally:
        engine.close()


def test_a_wrong_key_and_an_unknown_model_are_clear(server: str) -> None:
    wrong = RemoteEngine(Endpoint(server, api_key="sk-wrong", name="lab"))
    with pytest.raises(ModelLoadError, match="lab refused the API key"):
        wrong.load(ALIAS)
    wrong.close()
    engine = RemoteEngine(Endpoint(server, api_key=KEY))
    with pytest.raises(ModelLoadError, match=f"does not offer the model “gpt-5”.*{ALIAS}"):
        engine.load("gpt-5")
    engine.load(ALIAS)
    bad_key = RemoteEngine(Endpoint(server, api_key="sk-wrong"))
    bad_key._model = ALIAS  # chosen earlier, key rotated since: the reply itself is refused
    with pytest.raises(EngineError, match="refused the API key"):
        list(bad_key.stream(_request()))
    bad_key.close()
    engine.close()
