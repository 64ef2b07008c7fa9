"""ChatModel: roles, streaming updates that touch one row, and the history it hands the engine."""

from __future__ import annotations

from fireside.core.chat.conversation import Message
from fireside.core.chat.events import ReplyStats, ToolCall, ToolResult
from fireside.ui.chat.chat_model import ChatItem, ChatModel


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_roles_have_names_for_views_and_qml(qtbot) -> None:  # type: ignore[no-untyped-def]
    names = {bytes(v.data()).decode() for v in ChatModel().roleNames().values()}
    assert {"role", "text", "reasoning", "reasoningSeconds", "reasoningTokens", "stats",
            "streaming", "error"} <= names


def test_streaming_reply_updates_only_its_row(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    model = ChatModel(clock=clock)
    model.add_user_message("Hi")
    row = model.start_reply(7)
    assert model.row_for_request(7) == row == 1
    index = model.index(row, 0)
    assert index.data(ChatModel.StreamingRole) is True
    assert index.data(ChatModel.RoleRole) == "assistant"

    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, _roles: changed.append((a.row(), b.row())))
    model.append_delta(row, "Thinking", "")
    clock.now += 2.5
    assert index.data(ChatModel.ReasoningSecondsRole) is None  # still thinking
    model.append_delta(row, " hard.", "Hello")
    model.append_delta(row, "", " there")
    assert changed == [(1, 1)] * 3
    assert index.data(ChatModel.ReasoningRole) == "Thinking hard."
    assert index.data(ChatModel.TextRole) == "Hello there"
    assert index.data(ChatModel.ReasoningSecondsRole) == 2.5  # measured when the answer began
    assert index.data(ChatModel.ReasoningTokensRole) is None

    stats = ReplyStats(reasoning_tokens=3, answer_tokens=2, reasoning_s=2.0)
    model.finish_reply(row, stats)
    assert index.data(ChatModel.StreamingRole) is False
    assert index.data(ChatModel.StatsRole) == stats
    assert index.data(ChatModel.ReasoningTokensRole) == 3
    assert index.data(ChatModel.ReasoningSecondsRole) == 2.0  # the engine's figure wins


def test_deltas_after_finish_are_ignored(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = ChatModel()
    row = model.start_reply(1)
    model.finish_reply(row, ReplyStats())
    model.append_delta(row, "late", "late")
    assert model.item(row).text == "" and model.item(row).reasoning == ""


def test_failed_reply_keeps_error_and_partial_text(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = ChatModel()
    model.add_user_message("Hi")
    row = model.start_reply(1)
    model.append_delta(row, "hm", "Par")
    model.fail_reply(row, "The model stopped responding.")
    index = model.index(row, 0)
    assert index.data(ChatModel.ErrorRole) == "The model stopped responding."
    assert index.data(ChatModel.TextRole) == "Par"
    assert index.data(ChatModel.StreamingRole) is False


def test_to_messages_keeps_completed_and_stopped_turns(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = ChatModel()
    model.add_user_message("One")
    done = model.start_reply(1)
    model.append_delta(done, "r1", "a1")
    model.finish_reply(done, ReplyStats())
    model.add_user_message("Two")
    stopped = model.start_reply(2)
    model.append_delta(stopped, "r2", "partial")
    model.finish_reply(stopped, ReplyStats(stop_reason="cancelled"))
    model.add_user_message("Three")
    failed = model.start_reply(3)
    model.fail_reply(failed, "boom")
    model.add_user_message("Four")
    model.start_reply(4)  # still streaming
    assert model.to_messages() == (
        Message("user", "One"),
        Message("assistant", "a1", "r1"),
        Message("user", "Two"),
        Message("assistant", "partial", "r2"),
        Message("user", "Three"),
        Message("user", "Four"),
    )


def test_results_of_the_same_tool_called_twice_go_to_their_own_calls(qtbot) -> None:  # type: ignore[no-untyped-def]
    a, b = ToolCall("python", "print(1)", call_id="call_a"), ToolCall("python", "print(2)", call_id="call_b")
    model = ChatModel()
    model.add_user_message("Two sums")
    step = model.start_reply(1)
    model.add_tool_call(1, a)
    model.add_tool_call(1, b)
    model.add_tool_result(1, ToolResult("python", "2", "call_b"))  # answered out of order
    model.add_tool_result(1, ToolResult("python", "1", "call_a"))
    answer = model.live_reply_row(1)
    model.append_delta(answer, "", "1 and 2")
    model.finish_reply(answer, ReplyStats())
    model.add_user_message("Again")  # the next turn calls the same tool: its own id, not call_a's
    model.start_reply(2)
    c = ToolCall("python", "print(3)", call_id="call_c")
    model.add_tool_call(2, c)
    model.add_tool_result(2, ToolResult("python", "3", "call_c"))
    assert step == 1
    tool_messages = [(m.text, m.call_id) for m in model.to_messages() if m.role == "tool"]
    assert tool_messages == [("2", "call_b"), ("1", "call_a"), ("3", "call_c")]


def test_results_saved_without_an_id_take_the_calls_in_order(qtbot) -> None:  # type: ignore[no-untyped-def]
    a, b = ToolCall("python", "print(1)", call_id="call_a"), ToolCall("python", "print(2)", call_id="call_b")
    model = ChatModel()
    model.load([ChatItem("user", "Two sums"), ChatItem("assistant", tool_calls=(a, b)),
                ChatItem("tool", "1", tool_name="python"), ChatItem("tool", "2", tool_name="python"),
                ChatItem("assistant", "1 and 2")])
    tool_messages = [(m.text, m.call_id) for m in model.to_messages() if m.role == "tool"]
    assert tool_messages == [("1", "call_a"), ("2", "call_b")]


def test_reply_stopped_while_thinking_keeps_its_reasoning(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = ChatModel()
    model.add_user_message("Q")
    row = model.start_reply(1)
    model.append_delta(row, "half a thought", "")
    model.finish_reply(row, ReplyStats(stop_reason="cancelled"))
    assert model.to_messages()[-1] == Message("assistant", "", "half a thought")
    assert model.item(row).reasoning_seconds is not None


def test_clear_and_lookup_helpers(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = ChatModel()
    model.add_user_message("Question")
    row = model.start_reply(5)
    assert model.question_for(row) == "Question"
    assert model.latest_assistant_row() == row
    model.clear()
    assert model.rowCount() == 0
    assert model.row_for_request(5) == -1
    assert model.latest_assistant_row() == -1
    assert model.data(model.index(0, 0), ChatModel.TextRole) is None
