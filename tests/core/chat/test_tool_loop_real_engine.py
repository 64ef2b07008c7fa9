"""The whole tool loop on the real engine: llama.cpp on the tiny gpt-oss GGUF, forced (tests/
helpers/forcing.py) to call, step after step, an MCP server written with the official SDK, one
written from the protocol alone, and the sandboxed python tool, then to answer. Every call and
result is saved, rendered back in harmony for the next step, and reused from the KV cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.admin.policy import load_policy
from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.conversation import Sampling
from fireside.core.chat.events import AnswerDelta, Done, ToolCall, ToolResult
from fireside.core.chat.session import ChatSession, Saved, TurnOptions, build_request, messages_for
from fireside.core.history.store import Store
from fireside.core.tools.defaults import build_registry
from fireside.core.tools.registry import ToolRegistry
from tests.core.tools.conftest import RAW_SERVER, SDK_SERVER, make_paths, stdio, write_mcp_json
from tests.helpers.forcing import forcing_engine

STEPS = [
    '<|channel|>commentary to=functions.sdk__add <|constrain|>json<|message|>{"a": 19, "b": 23}<|call|>',
    '<|channel|>commentary to=functions.raw__reverse <|constrain|>json<|message|>{"text": "42"}<|call|>',
    "<|channel|>analysis to=python code<|message|>print(int('24') + 18)<|call|>",
    "<|channel|>analysis<|message|>All three agree.<|end|><|start|>assistant<|channel|>final"
    "<|message|>The answer is 42.<|return|>",
]


class Allow:
    def leave_out_older(self, overflow: Overflow) -> bool:
        return False

    def approve(self, call: ToolCall) -> bool:
        return True


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolRegistry]:
    paths = make_paths(tmp_path_factory.mktemp("fireside-home"))
    write_mcp_json(paths, {"sdk": stdio(SDK_SERVER), "raw": stdio(RAW_SERVER)})
    with build_registry(paths, load_policy([])) as reg:
        yield reg


def test_three_tools_then_an_answer_through_the_real_engine(
        tiny_gptoss_path: Path, tmp_path: Path, registry: ToolRegistry) -> None:
    engine, forcing = forcing_engine(tiny_gptoss_path, n_ctx=4096, n_threads=1)
    forcing.force_replies(engine, STEPS)
    store = Store(tmp_path / "history.sqlite3")
    try:
        options = TurnOptions(mcp_tools=True, python_tool=True, sampling=Sampling.greedy(),
                              max_tokens=200)
        events = list(ChatSession(engine, store, registry).send(None, "What is 19 + 23?", options,
                                                                Allow()))
        assert forcing.errors == []
        calls = [e for e in events if isinstance(e, ToolCall)]
        results = [e for e in events if isinstance(e, ToolResult)]
        assert [c.recipient for c in calls] == ["functions.sdk__add", "functions.raw__reverse", "python"]
        assert [r.output.strip() for r in results] == ["42", "24", "42"]
        assert not any(r.error for r in results)
        assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == "The answer is 42."
        done = events[-1]
        assert isinstance(done, Done) and done.stats.stop_reason == "end"
        # each step after the first reused the prompt it extended from the KV cache
        assert done.stats.reused_prompt_tokens > 0
        cid = next(e for e in events if isinstance(e, Saved)).conversation_id
        path = store.active_path(cid)
        assert [m.role for m in path] == ["user", "assistant", "tool", "assistant", "tool",
                                         "assistant", "tool", "assistant"]
        assert path[-1].text == "The answer is 42." and path[-1].reasoning == "All three agree."
        # what the model read before its answer: every call and result, in harmony
        prompt = engine.render_prompt(build_request(messages_for(path[:-1]), "", options))
        assert ('<|start|>assistant to=functions.raw__reverse<|channel|>commentary <|constrain|>json'
                '<|message|>{"text": "42"}<|call|>') in prompt
        assert ("<|start|>functions.raw__reverse to=assistant<|channel|>commentary<|message|>24"
                "<|end|>") in prompt
        assert "<|start|>python to=assistant<|channel|>analysis<|message|>42" in prompt
    finally:
        store.close()
        engine.unload()
