"""The tool loop of the conversation service: model -> call -> approval -> tool -> result ->
model, with the real tool registry (a real MCP server over stdio, the real python sandbox) and
real SQLite. The scripted engine makes the calls; test_tool_loop_real_engine.py drives llama.cpp."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.admin.policy import load_policy
from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.conversation import Message
from fireside.core.chat.events import AnswerDelta, Done, ToolCall, ToolResult
from fireside.core.chat.session import (
    DECLINED,
    ChatSession,
    Failed,
    Saved,
    TurnEvent,
    TurnOptions,
    messages_for,
)
from fireside.core.history.export import export_json, import_json
from fireside.core.history.store import Store
from fireside.core.tools.defaults import build_registry
from fireside.core.tools.registry import ToolRegistry
from tests.core.tools.conftest import RAW_SERVER, make_paths, stdio, write_mcp_json
from tests.helpers.stubs import DEFAULT_ANSWER, ScriptedEngine

ANSWER = "".join(DEFAULT_ANSWER)
TOOLS = TurnOptions(mcp_tools=True, python_tool=True, model_name="gpt-oss-20b")


class Host:
    def __init__(self, allow: bool = True) -> None:
        self.allow = allow
        self.asked: list[ToolCall] = []

    def leave_out_older(self, overflow: Overflow) -> bool:
        return False

    def approve(self, call: ToolCall) -> bool:
        self.asked.append(call)
        return self.allow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolRegistry]:
    paths = make_paths(tmp_path_factory.mktemp("fireside-home"))
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER)})
    with build_registry(paths, load_policy([])) as reg:
        yield reg


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "history.sqlite3")
    yield s
    s.close()


@pytest.fixture
def engine() -> ScriptedEngine:
    e = ScriptedEngine()
    e.load("/models/gpt-oss-20b.gguf")
    return e


def python(code: str) -> ToolCall:
    return ToolCall("python", code, "analysis", "code")


def reverse(text: str) -> ToolCall:
    return ToolCall("functions.raw__reverse", json.dumps({"text": text}), "commentary", "json")


def test_python_then_mcp_then_answer_all_saved_and_sent_back(
        engine: ScriptedEngine, store: Store, registry: ToolRegistry) -> None:
    engine.tool_steps = [[python("x = 6 * 7\nprint(x)")], [reverse("stressed")]]
    host = Host()
    events = list(ChatSession(engine, store, registry).send(None, "Do maths", TOOLS, host))
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [r.output.strip() for r in results] == ["42", "desserts"]
    assert not any(r.error for r in results)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [c.recipient for c in calls] == ["python", "functions.raw__reverse"]
    assert all(c.call_id.startswith("call_") for c in calls) and len({c.call_id for c in calls}) == 2
    assert host.asked == calls  # every call was put to the person first
    assert isinstance(events[-1], Done) and events[-1].stats.stop_reason == "end"
    # the model was offered both tools, and saw each result before going on
    first, _second, third = engine.requests
    assert first.python_tool and "raw__reverse" in {t.name for t in first.tools}
    assert [m.role for m in third.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert third.messages[2].text.strip() == "42" and third.messages[2].call_id == calls[0].call_id
    assert third.messages[1].tool_calls == (calls[0],)
    # the history holds every step, and gives the model the same messages back
    cid = next(e for e in events if isinstance(e, Saved)).conversation_id
    path = store.active_path(cid)
    assert [m.role for m in path] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert path[1].tool_calls == (calls[0],) and path[2].tool_name == "python"
    assert path[-1].text == ANSWER and path[2].stats["error"] is False
    assert messages_for(path)[:5] == third.messages
    saved_roles = [e.role for e in events if isinstance(e, Saved)]
    assert saved_roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    # and an export imports losslessly, calls and results included
    data = export_json(store, [cid])
    [copy] = import_json(store, data)
    assert export_json(store, [copy])["conversations"][0]["messages"] == data["conversations"][0]["messages"]


def test_python_state_lasts_for_the_conversation_only(
        engine: ScriptedEngine, store: Store, registry: ToolRegistry) -> None:
    session = ChatSession(engine, store, registry)
    engine.tool_steps = [[python("secret = 'kept'")], [python("print(secret)")]]
    events = list(session.send(None, "remember", TOOLS, Host()))
    assert [e.output.strip() for e in events if isinstance(e, ToolResult)][1] == "kept"
    engine.tool_steps = [[python("print(secret)")]]
    other = list(session.send(None, "another chat", TOOLS, Host()))
    [result] = [e for e in other if isinstance(e, ToolResult)]
    assert result.error and "NameError" in result.output


def test_a_denied_call_goes_back_to_the_model_as_a_refusal(
        engine: ScriptedEngine, store: Store, registry: ToolRegistry) -> None:
    engine.tool_steps = [[python("import os; os.remove('/etc/passwd')")]]
    events = list(ChatSession(engine, store, registry).send(None, "clean up", TOOLS, Host(False)))
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert result.error and result.output == DECLINED
    assert engine.requests[-1].messages[-1] == Message("tool", DECLINED, tool_name="python",
                                                        call_id=result.call_id)
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == ANSWER


def test_bad_calls_become_results_and_the_loop_goes_on(
        engine: ScriptedEngine, store: Store, registry: ToolRegistry) -> None:
    engine.tool_steps = [[ToolCall("functions.raw__reverse", "{not json", "commentary", "json")],
                         [ToolCall("functions.no_such_tool", "{}", "commentary", "json")],
                         [ToolCall("functions.raw__crash", "{}", "commentary", "json")]]
    events = list(ChatSession(engine, store, registry).send(None, "break things", TOOLS, Host()))
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [r.error for r in results] == [True, True, True]
    assert "JSON" in results[0].output and "no_such_tool" in results[1].output
    assert isinstance(events[-1], Done) and events[-1].stats.stop_reason == "end"


def test_client_functions_are_returned_not_run(engine: ScriptedEngine, store: Store,
                                               registry: ToolRegistry) -> None:
    call = ToolCall("functions.get_weather", '{"city":"Paris"}', "commentary", "json")
    engine.tool_steps = [[call]]
    options = TurnOptions(client_functions=frozenset({"get_weather"}))
    host = Host()
    events = list(ChatSession(engine, None, registry).complete((Message("user", "Weather?"),),
                                                               options, host))
    [returned] = [e for e in events if isinstance(e, ToolCall)]
    assert returned.recipient == "functions.get_weather" and returned.call_id.startswith("call_")
    assert host.asked == [] and not [e for e in events if isinstance(e, ToolResult)]
    assert isinstance(events[-1], Done) and events[-1].stats.stop_reason == "tool_call"


def test_a_turn_stops_after_the_call_limit(engine: ScriptedEngine, store: Store,
                                           registry: ToolRegistry) -> None:
    engine.tool_steps = [[python("print(1)")] for _ in range(5)]
    options = TurnOptions(python_tool=True, max_tool_calls=3)
    events = list(ChatSession(engine, store, registry).send(None, "loop", options, Host()))
    assert len([e for e in events if isinstance(e, ToolResult)]) == 3
    assert isinstance(events[-1], Failed) and "3 tool calls" in events[-1].message


def test_without_a_registry_calls_are_answered_not_crashed(engine: ScriptedEngine,
                                                          store: Store) -> None:
    engine.tool_steps = [[python("print(1)")]]
    events: list[TurnEvent] = list(ChatSession(engine, store).send(None, "hi", TOOLS, Host()))
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert result.error and isinstance(events[-1], Done)
    assert not engine.requests[0].python_tool  # nothing offered that cannot run
