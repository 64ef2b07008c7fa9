"""The conversation service runs a turn end to end: it records the question and the reply (with
stats and status), branches on edit and regenerate, leaves older messages out only when the front
end agrees, and turns every failure into a `Failed` event. Real SQLite; scripted replies."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.conversation import Effort, Message
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta
from fireside.core.chat.session import (
    OPEN_KEY,
    ChatSession,
    Failed,
    LeftOut,
    Saved,
    SaveFailed,
    TurnEvent,
    TurnOptions,
)
from fireside.core.engine.protocol import EngineError, LoadConfig
from fireside.core.history.store import Store
from tests.helpers.stubs import DEFAULT_ANSWER, DEFAULT_REASONING, ScriptedEngine

ANSWER = "".join(DEFAULT_ANSWER)
REASONING = "".join(DEFAULT_REASONING)
OPTIONS = TurnOptions(effort=Effort.HIGH, model_name="gpt-oss-20b", system_prompt="Be brief.")


@pytest.fixture
def engine() -> ScriptedEngine:
    e = ScriptedEngine()
    e.load("/models/gpt-oss-20b.gguf")
    return e


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "history.sqlite3")
    yield s  # type: ignore[misc]
    s.close()


class Host:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[Overflow] = []

    def leave_out_older(self, overflow: Overflow) -> bool:
        self.asked.append(overflow)
        return self.answer


def run(events: object) -> list[TurnEvent]:
    return list(events)  # type: ignore[call-overload]


def test_a_send_records_question_and_reply_with_stats(engine: ScriptedEngine, store: Store) -> None:
    events = run(ChatSession(engine, store).send(None, "How do tides work?", OPTIONS))
    saved = [e for e in events if isinstance(e, Saved)]
    assert [s.role for s in saved] == ["user", "assistant"] and saved[0].new_conversation
    cid = saved[0].conversation_id
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == ANSWER
    assert isinstance(events[-1], Done) and events[-1].stats.stop_reason == "end"
    conv = store.conversation(cid)
    assert (conv.title, conv.system_prompt, conv.model, conv.effort) == (
        "How do tides work?", "Be brief.", "gpt-oss-20b", "high")
    question, reply = store.active_path(cid)
    assert (question.role, question.text) == ("user", "How do tides work?")
    assert (reply.text, reply.reasoning, reply.status) == (ANSWER, REASONING, "done")
    assert reply.stats["answer_tokens"] == 4 and reply.model == "gpt-oss-20b"
    assert store.state(OPEN_KEY) == str(cid)
    # the engine saw the system prompt and effort the conversation was created with
    assert engine.requests[-1].system_prompt == "Be brief." and engine.requests[-1].effort == Effort.HIGH


def test_the_next_turn_sees_the_history_and_keeps_the_chats_own_prompt(
        engine: ScriptedEngine, store: Store) -> None:
    session = ChatSession(engine, store)
    cid = run(session.send(None, "First", OPTIONS))[0].conversation_id  # type: ignore[union-attr]
    run(session.send(cid, "Second", TurnOptions(system_prompt="ignored for a saved chat")))
    request = engine.requests[-1]
    assert [m.text for m in request.messages] == ["First", ANSWER, "Second"]
    assert request.messages[1].reasoning == REASONING and request.system_prompt == "Be brief."
    assert [m.role for m in store.active_path(cid)] == ["user", "assistant"] * 2


def test_regenerate_and_edit_make_versions(engine: ScriptedEngine, store: Store) -> None:
    session = ChatSession(engine, store)
    events = run(session.send(None, "Name a colour", OPTIONS))
    cid = events[0].conversation_id  # type: ignore[union-attr]
    question_id, reply_id = (e.message_id for e in events if isinstance(e, Saved))
    engine.answer = ("Blue.",)
    events = run(session.regenerate(reply_id, OPTIONS))
    [new_reply] = [e for e in events if isinstance(e, Saved)]
    assert (new_reply.position, new_reply.count) == (2, 2)
    assert [m.text for m in store.active_path(cid)] == ["Name a colour", "Blue."]
    assert [m.text for m in engine.requests[-1].messages] == ["Name a colour"]  # not the old reply
    engine.answer = ("Red.",)
    events = run(session.edit(question_id, "Name a warm colour", OPTIONS))
    edited = [e for e in events if isinstance(e, Saved)]
    assert (edited[0].position, edited[0].count) == (2, 2)
    assert [m.text for m in store.active_path(cid)] == ["Name a warm colour", "Red."]
    assert session.select_branch(edited[0].message_id, -1) == question_id
    assert [m.text for m in store.active_path(cid)] == ["Name a colour", "Blue."]
    assert session.select_branch(question_id, -1) == question_id  # no version before the first


def test_overflow_asks_the_host_and_leaves_out_only_with_consent(engine: ScriptedEngine,
                                                                 store: Store) -> None:
    engine.load("/m.gguf", LoadConfig(n_ctx=700))
    session = ChatSession(engine, store)
    cid = 0
    for i in range(3):
        events = run(session.send(cid, f"Question {i}: " + "words " * 100, OPTIONS, Host(False)))
        assert isinstance(events[-1], Done)  # these still fit
        cid = events[0].conversation_id  # type: ignore[union-attr]
    no = Host(False)
    events = run(session.send(cid, "And now? " + "more " * 60, OPTIONS, no))
    assert len(no.asked) == 1 and no.asked[0].fit is not None
    assert isinstance(events[-1], Failed)
    assert "longer than the model's 700-token context" in events[-1].message
    assert store.active_path(cid)[-1].status == "error"
    yes = Host(True)
    events = run(session.send(cid, "And now? " + "more " * 60, OPTIONS, yes))
    left = [e for e in events if isinstance(e, LeftOut)]
    assert len(left) == 1 and left[0].dropped >= 2 and left[0].n_ctx == 700
    assert isinstance(events[-1], Done) and store.active_path(cid)[-1].text == ANSWER
    assert engine.requests[-1].messages[-1].text.startswith("And now?")
    # the failed reply stays out of the history the model sees
    assert all(m.text for m in engine.requests[-1].messages if m.role == "assistant")
    # consent given once for the chat: no question asked
    asked = Host(False)
    run(session.send(cid, "Again?", TurnOptions(leave_out_older=True), asked))
    assert asked.asked == []


def test_an_engine_error_mid_reply_keeps_what_arrived_and_marks_it(engine: ScriptedEngine,
                                                                   store: Store) -> None:
    engine.stream_error, engine.error_after = EngineError("The GPU went away."), 5
    events = run(ChatSession(engine, store).send(None, "Hi", OPTIONS))
    assert events[-1] == Failed("The GPU went away.")
    reply = store.active_path(events[0].conversation_id)[-1]  # type: ignore[union-attr]
    assert reply.status == "error" and reply.stats == {"error": "The GPU went away."}


def test_a_crashing_engine_becomes_a_message(engine: ScriptedEngine, store: Store) -> None:
    engine.stream_error, engine.error_after = ZeroDivisionError("division by zero"), 0
    events = run(ChatSession(engine, store).send(None, "Hi", OPTIONS))
    assert isinstance(events[-1], Failed) and "division by zero" in events[-1].message


def test_cancel_before_start_never_runs_the_engine(engine: ScriptedEngine, store: Store) -> None:
    cancel = threading.Event()
    cancel.set()
    events = run(ChatSession(engine, store).send(None, "Hi", OPTIONS, cancel=cancel))
    assert isinstance(events[-1], Done) and events[-1].stats.stop_reason == "cancelled"
    assert engine.requests == []
    assert store.active_path(events[0].conversation_id)[-1].status == "cancelled"  # type: ignore[union-attr]


def test_cancel_mid_reply_saves_the_partial_reply(engine: ScriptedEngine, store: Store) -> None:
    cancel = threading.Event()
    session = ChatSession(engine, store)
    events: list[TurnEvent] = []
    for event in session.send(None, "Hi", OPTIONS, cancel=cancel):
        events.append(event)
        if isinstance(event, ReasoningDelta):
            cancel.set()
    reply = store.active_path(events[0].conversation_id)[-1]  # type: ignore[union-attr]
    assert reply.status == "cancelled" and reply.reasoning == DEFAULT_REASONING[0]


def test_without_a_store_nothing_is_saved_and_the_reply_still_comes(engine: ScriptedEngine) -> None:
    events = run(ChatSession(engine, None).send(None, "Hi", OPTIONS))
    assert not [e for e in events if isinstance(e, Saved)]
    assert isinstance(events[-1], Done)
    assert engine.requests[-1].messages == (Message("user", "Hi"),)


def test_a_history_that_cannot_be_written_still_gives_the_reply(engine: ScriptedEngine,
                                                                store: Store) -> None:
    store.close()  # every write now fails
    events = run(ChatSession(engine, store).send(None, "Hi", OPTIONS))
    assert isinstance(events[0], SaveFailed) and "could not save" in events[0].message
    assert isinstance(events[-1], Done)
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == ANSWER


def test_the_partial_row_holds_exactly_what_streamed_so_far(engine: ScriptedEngine, store: Store) -> None:
    session = ChatSession(engine, store)
    session.flush_interval_s = 0.0  # every delta reaches the row
    reply_id, answer, reasoning = 0, "", ""
    for event in session.send(None, "Hi", OPTIONS):
        if isinstance(event, Saved) and event.role == "assistant":
            reply_id = event.message_id
        if isinstance(event, ReasoningDelta | AnswerDelta):
            reasoning += event.text if isinstance(event, ReasoningDelta) else ""
            answer += event.text if isinstance(event, AnswerDelta) else ""
            row = store.message(reply_id)
            assert (row.text, row.reasoning, row.status) == (answer, reasoning, "partial")
    row = store.message(reply_id)
    assert (row.text, row.reasoning, row.status) == (ANSWER, REASONING, "done")


def test_a_partial_save_failing_mid_reply_stops_saving_but_not_the_tool_loop(
        engine: ScriptedEngine, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from fireside.core.chat.events import ToolCall, ToolResult

    real = store.update_partial
    writes: list[str] = []

    def fail_after_one(message_id: int, text: str, reasoning: str, durable: bool = True) -> None:
        writes.append(reasoning)
        if len(writes) > 1:
            raise sqlite3.OperationalError("disk I/O error")
        real(message_id, text, reasoning, durable=durable)

    monkeypatch.setattr(store, "update_partial", fail_after_one)
    engine.tool_steps = [[ToolCall("python", "print(1)", "analysis")]]
    session = ChatSession(engine, store)  # no tools: the call gets a result saying so
    session.flush_interval_s = 0.0
    events = run(session.send(None, "Hi", OPTIONS))
    # each step of the reply stops writing its row at its first failed write, and says so once
    assert len([e for e in events if isinstance(e, SaveFailed)]) == 2 and len(writes) == 3
    assert next(e for e in events if isinstance(e, ToolResult)).error
    step = engine.requests[-1].messages[1]  # the model sees the whole first step, saved or not
    assert (step.role, step.reasoning) == ("assistant", REASONING) and step.tool_calls
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == ANSWER
    assert isinstance(events[-1], Done)
