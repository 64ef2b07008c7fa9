"""Tools in the window: each call is put to the person (Allow once / for this chat / Deny), the
transcript shows the call and its result as steps, and the chat reopens with them after a restart.
Real tool registry with the real python sandbox; the scripted engine makes the calls."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from fireside.core.chat.events import ToolCall
from fireside.core.chat.session import DECLINED
from fireside.core.config.paths import Paths
from fireside.core.tools.defaults import build_registry
from fireside.ui.chat import tool_approval
from fireside.ui.chat.tool_approval import Approval, ApprovalDialog
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import DEFAULT_ANSWER, ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait

ANSWER = "".join(DEFAULT_ANSWER)


def python(code: str) -> ToolCall:
    return ToolCall("python", code, "analysis", "code")


def tooled(qtbot, make_window: MakeWindow, paths: Paths, engine: ScriptedEngine) -> MainWindow:  # type: ignore[no-untyped-def]
    window = make_window(engine, tools_factory=lambda: build_registry(paths))
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    return window


def rows(window: MainWindow) -> list[tuple[str, str]]:
    m = window.chat_model
    return [(m.item(r).role, m.item(r).text) for r in range(m.rowCount())]


def test_an_allowed_call_runs_and_its_result_is_a_step_of_the_reply(
        qtbot, make_window: MakeWindow, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[ToolCall] = []
    monkeypatch.setattr(tool_approval, "ask_approval",
                        lambda parent, call, can_always: asked.append(call) or Approval.ONCE)
    engine = ScriptedEngine(tool_steps=[[python("print(6 * 7)")]])
    window = tooled(qtbot, make_window, paths, engine)
    send_and_wait(qtbot, window, "What is six times seven?")
    assert [c.arguments for c in asked] == ["print(6 * 7)"]
    assert rows(window) == [("user", "What is six times seven?"), ("assistant", ""),
                            ("tool", "42"), ("assistant", ANSWER)]
    step, result = window.chat_model.item(1), window.chat_model.item(2)
    assert step.tool_calls[0].recipient == "python" and not step.streaming
    assert result.tool_name == "python" and not result.tool_failed and result.duration_s is not None
    widget = window.transcript.widget_at(1)
    assert "Uses python" in widget.markdown_label.prose_labels()[0].text()
    [block] = widget.markdown_label.code_blocks()
    assert block.code.strip() == "print(6 * 7)" and block.language == "python"
    assert "<span" in block.code_label.text()  # highlighted, as Python
    tool_widget = window.transcript.widget_at(2)
    assert tool_widget.reasoning_toggle.text().startswith("Result from python · ")
    assert not tool_widget.reasoning_expanded  # a result that worked folds away
    qtbot.mouseClick(tool_widget.reasoning_toggle, Qt.MouseButton.LeftButton)
    assert tool_widget.reasoning_view.text() == "42"
    # the model saw the result before it answered
    assert engine.requests[-1].messages[-1].text == "42"
    # and the chat comes back the same after a restart
    window.close()
    again = make_window(ScriptedEngine())
    assert rows(again) == rows(window)
    assert again.chat_model.item(1).tool_calls == step.tool_calls


def test_a_denied_call_is_shown_failed_and_the_model_is_told(
        qtbot, make_window: MakeWindow, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool_approval, "ask_approval", lambda parent, call, can_always: Approval.DENY)
    engine = ScriptedEngine(tool_steps=[[python("import shutil; shutil.rmtree('/')")]])
    window = tooled(qtbot, make_window, paths, engine)
    send_and_wait(qtbot, window, "Tidy my disk")
    result = window.chat_model.item(2)
    assert result.role == "tool" and result.tool_failed and result.text == DECLINED
    widget = window.transcript.widget_at(2)
    assert widget.reasoning_expanded and "You declined" in widget.reasoning_toggle.text()
    assert engine.requests[-1].messages[-1].text == DECLINED


def test_allow_for_this_chat_asks_once_per_tool(
        qtbot, make_window: MakeWindow, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[ToolCall] = []
    monkeypatch.setattr(tool_approval, "ask_approval",
                        lambda parent, call, can_always: asked.append(call) or Approval.CHAT)
    engine = ScriptedEngine(tool_steps=[[python("a = 1")], [python("print(a + 1)")]])
    window = tooled(qtbot, make_window, paths, engine)
    send_and_wait(qtbot, window, "Count")
    assert len(asked) == 1
    assert [r for r, _ in rows(window)] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert window.chat_model.item(4).text == "2"  # state kept between the two calls


def test_the_dialog_shows_the_code_and_defaults_to_deny(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = ApprovalDialog(python("print('hi')"), can_always=False)
    qtbot.addWidget(dialog)
    assert dialog.code.code.strip() == "print('hi')" and dialog.code.language == "python"
    assert dialog.deny.isDefault() and dialog.always is None
    qtbot.mouseClick(dialog.chat, Qt.MouseButton.LeftButton)
    assert dialog.choice == Approval.CHAT
