"""Accessibility and comfort: text size, screen-reader announcements, Tab order, copy last answer."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QGuiApplication
from PySide6.QtWidgets import QApplication

from fireside.core.config.paths import Paths
from fireside.core.config.settings import load_settings
from fireside.ui.look import accessibility as comfort
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import ANSWER, send_and_wait


def _size(font) -> float:  # type: ignore[no-untyped-def]
    return font.pointSizeF() if font.pointSizeF() > 0 else float(font.pixelSize())


def test_text_size_keys_scale_the_chat_and_are_remembered(
    qtbot, make_window: MakeWindow, paths: Paths
) -> None:
    window: MainWindow = make_window(ScriptedEngine())
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    row = send_and_wait(qtbot, window)
    message = window.transcript.widget_at(row)
    base = _size(message.answer_label.font())
    role_base = _size(message.role_label.font())
    shortcuts = {a.text(): [k.toString() for k in a.shortcuts()]
                 for a in (window.comfort.larger, window.comfort.smaller, window.comfort.actual)}
    assert shortcuts == {"&Larger Text": ["Ctrl+=", "Ctrl++"], "&Smaller Text": ["Ctrl+-"],
                         "&Actual Text Size": ["Ctrl+0"]}
    window.comfort.larger.trigger()
    window.comfort.larger.trigger()
    assert window.comfort.scale == 125
    assert _size(message.answer_label.font()) > base
    assert _size(message.role_label.font()) > role_base  # the small labels grow with it
    assert _size(window.composer.text_edit.font()) > base
    prose = message.markdown_label.prose_labels()[0]
    assert _size(prose.font()) > base  # the rendered reply grows too (its HTML has no fixed size)
    assert load_settings(paths.settings_file).text_scale == 125
    window.close()

    again: MainWindow = make_window(ScriptedEngine())  # a new session starts at the saved size
    assert again.comfort.scale == 125
    again.comfort.actual.trigger()
    assert again.comfort.scale == 100
    for _ in range(20):
        again.comfort.smaller.trigger()
    assert again.comfort.scale == comfort.TEXT_SCALES[0] and not again.comfort.smaller.isEnabled()
    assert load_settings(paths.settings_file).text_scale == comfort.TEXT_SCALES[0]


def test_a_finished_reply_is_announced_to_screen_readers(
    qtbot, loaded_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced: list[tuple[object, str]] = []
    monkeypatch.setattr(QAccessible, "updateAccessibility",
                        staticmethod(lambda event: announced.append((event.object(), event.message()))))
    row = send_and_wait(qtbot, loaded_window, "Hello")
    message = loaded_window.transcript.widget_at(row)
    assert announced == [(message, f"Reply finished. {ANSWER}")]
    assert message.accessibleDescription() == f"Reply finished. {ANSWER}"


def test_tab_moves_through_the_window_in_screen_order(qtbot, loaded_window: MainWindow) -> None:
    window = loaded_window
    sidebar = window.sidebar
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    sidebar.new_button.setFocus()
    seen = [QApplication.focusWidget()]
    window.composer.text_edit.setPlainText("draft")  # Send is enabled, so it takes focus too
    for _ in range(6):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    assert seen == [sidebar.new_button, sidebar.search_box, sidebar.reasoning_box, sidebar.list,
                    window.composer.text_edit, window.composer.effort_combo, window.composer.send_button]


def test_ctrl_shift_c_copies_the_last_answer(qtbot, loaded_window: MainWindow) -> None:
    QGuiApplication.clipboard().setText("")
    send_and_wait(qtbot, loaded_window, "Hello")
    copy = next(a for a in loaded_window.chat_actions.actions if a.objectName() == "CopyLastAnswer")
    assert copy.shortcut().toString() == "Ctrl+Shift+C"
    loaded_window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is loaded_window, timeout=3000)
    qtbot.keyClick(loaded_window.composer.text_edit, Qt.Key.Key_C,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert QGuiApplication.clipboard().text() == ANSWER
