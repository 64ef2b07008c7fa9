"""The transcript's spare message widgets: built while the window is idle, taken by a send, so
pressing Enter builds no widget (see transcript.py). The scripted engine plays the reply."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from fireside.ui.chat.message_widget import MessageWidget
from fireside.ui.chat.transcript import SPARE_IDLE_MS
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait


def _spares(window: MainWindow) -> dict[str, MessageWidget]:
    return dict(window.transcript._spares)


def test_a_send_shows_its_rows_in_the_spares_built_while_idle(qtbot, loaded_window: MainWindow) -> None:
    w = loaded_window
    qtbot.waitUntil(lambda: set(_spares(w)) == {"user", "assistant"}, timeout=SPARE_IDLE_MS + 5000)
    spares = _spares(w)
    polished = Qt.WidgetAttribute.WA_WState_Polished
    assert all(not s.isVisible() and s.testAttribute(polished) and s.answer_label.testAttribute(polished)
               for s in spares.values())
    assert w.transcript.count() == 0

    send_and_wait(qtbot, w, "Which widget shows me?")
    assert w.transcript.widget_at(0) is spares["user"]
    assert w.transcript.widget_at(1) is spares["assistant"]
    assert spares["user"].isVisible() and spares["assistant"].isVisible()
    assert spares["user"].answer_label.text() == "Which widget shows me?"
    assert spares["assistant"].answer_label.text() == w.chat_model.item(1).text != ""

    qtbot.waitUntil(lambda: set(_spares(w)) == {"user", "assistant"}, timeout=SPARE_IDLE_MS + 5000)
    fresh = _spares(w)
    assert fresh["user"] is not spares["user"] and not fresh["user"].isVisible()
    assert w.transcript.count() == 2  # spares are not rows


def test_opening_a_long_chat_uses_the_spares_and_builds_the_rest(qtbot, loaded_window: MainWindow) -> None:
    w = loaded_window
    send_and_wait(qtbot, w, "One")
    send_and_wait(qtbot, w, "Two")
    assert w.history is not None
    cid = w.history.current_id
    w.new_chat()
    qtbot.waitUntil(lambda: len(_spares(w)) == 2, timeout=SPARE_IDLE_MS + 5000)
    w.history.open(cid)
    texts = [w.transcript.widget_at(r).answer_label.text() for r in range(4)]
    assert texts[0] == "One" and texts[2] == "Two"
    assert len({id(w.transcript.widget_at(r)) for r in range(4)}) == 4


def test_no_spare_is_built_while_a_reply_streams(qtbot, make_window: MakeWindow) -> None:
    gate = threading.Event()
    engine = ScriptedEngine(gate=gate, gate_after=2)
    w = make_window(engine)
    with qtbot.waitSignal(w.modelLoaded, timeout=5000):
        w.load_model(MODEL_PATH)
    qtbot.waitUntil(lambda: len(_spares(w)) == 2, timeout=SPARE_IDLE_MS + 5000)
    w.send_message("Stream for a while")
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    qtbot.wait(SPARE_IDLE_MS + 500)  # sleep-ok: the spare timer fires meanwhile and must wait
    assert _spares(w) == {}
    with qtbot.waitSignal(w.replyFinished, timeout=5000):
        gate.set()
    qtbot.waitUntil(lambda: len(_spares(w)) == 2, timeout=SPARE_IDLE_MS + 5000)
