"""Stored responses are conversations: a chain through `/v1/responses` with `store` (official
openai client, real server, real engine on the tiny gpt-oss, real SQLite) becomes one
conversation in the history, marked as from the API, with its reasoning, function calls and
outputs; `previous_response_id` continues it (a second continuation is a branch, a restart
changes nothing); the history's search and export see it, and a chat session continues it."""

from __future__ import annotations

from pathlib import Path

from fireside.core.chat.conversation import Effort
from fireside.core.chat.events import Done
from fireside.core.chat.session import ChatSession, TurnOptions
from fireside.core.history.export import export_markdown
from fireside.core.history.search import search
from fireside.core.history.store import Store
from tests.helpers.stubs import ScriptedEngine
from tests.server.conftest import serve
from tests.server.test_chat_completions import ANSWER, CALL, CALL_ARGS, REPLY, THINK
from tests.server.test_responses import WEATHER


def test_a_stored_chain_is_one_conversation_with_reasoning_calls_and_branches(
        tiny_gptoss_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    stored: list[int] = []
    served = serve(tiny_gptoss_path, None, path, on_stored=stored.append)
    try:
        c = served.client()
        served.force(CALL)
        r1 = c.responses.create(model="", input="What is the weather in Paris?", tools=[WEATHER],
                                instructions="Be brief.")
        # the client runs its own function: the reply ends at the call (nothing run, no answer)
        assert [o.type for o in r1.output] == ["reasoning", "function_call"]
        call = r1.output[1]
        assert call.type == "function_call"
        served.force(REPLY)
        r2 = c.responses.create(model="", previous_response_id=r1.id, tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "18 C, clear"}])
        served.force(REPLY)
        c.responses.create(model="", input="Not kept.", store=False)
    finally:
        served.stop()

    with Store(path) as store:
        (conv,) = store.conversations()
        assert stored == [conv.id, conv.id]
        assert (conv.source, conv.title, conv.system_prompt) == (
            "api", "What is the weather in Paris?", "Be brief.")
        question, calling, result, answer = store.active_path(conv.id)
        assert (question.role, question.text) == ("user", "What is the weather in Paris?")
        assert calling.role == "assistant" and calling.reasoning == THINK
        assert [(t.recipient, t.arguments, t.call_id) for t in calling.tool_calls] == [
            ("functions.get_weather", CALL_ARGS, call.call_id)]
        assert (result.role, result.text, result.tool_name, result.call_id) == (
            "tool", "18 C, clear", "functions.get_weather", call.call_id)
        assert (answer.text, answer.reasoning, answer.status) == (ANSWER, THINK, "done")
        assert answer.stats["response_id"] == r2.id and answer.stats["prompt_tokens"] > 0
        assert {h.conversation_id for h in search(store, "Paris")} == {conv.id}
        markdown = export_markdown(store, conv.id)
        assert "18 C, clear" in markdown and ANSWER in markdown

    # After a restart, a client continues r1 differently: a branch of the same conversation.
    again = serve(tiny_gptoss_path, None, path, on_stored=stored.append)
    try:
        again.force(REPLY)
        again.client().responses.create(model="", previous_response_id=r1.id, tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"}])
    finally:
        again.stop()
    with Store(path) as store:
        assert [c.id for c in store.conversations()] == [conv.id] and stored[-1] == conv.id
        path_now = store.active_path(conv.id)
        assert path_now[2].text == "rain" and len(store.siblings(path_now[2].id)) == 2

        # The window continues it like any chat (its turn runs through the same service).
        engine = ScriptedEngine()
        engine.load("/models/gpt-oss-20b.gguf")
        events = list(ChatSession(engine, store).send(conv.id, "And tomorrow?",
                                                      TurnOptions(effort=Effort.LOW)))
        assert isinstance(events[-1], Done)
        sent = engine.requests[-1].messages
        assert [m.role for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
        assert sent[1].tool_calls[0].call_id == call.call_id and sent[2].text == "rain"
        assert store.active_path(conv.id)[-2].text == "And tomorrow?"
