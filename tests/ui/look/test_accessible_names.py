"""Every control a person can reach has a name a screen reader can say."""

from __future__ import annotations

from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from fireside.ui.shell.main_window import MainWindow
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.shell.test_main_window import send_and_wait

CONTROLS = (QAbstractButton, QAbstractItemView, QComboBox, QLineEdit, QPlainTextEdit)


def test_every_visible_control_has_an_accessible_name(qtbot, make_window: MakeWindow) -> None:
    engine = ScriptedEngine(answer=("Here:\n\n```python\nprint('hi')\n```\n\nDone, see https://example.com.",))
    window: MainWindow = make_window(engine)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        window.load_model(MODEL_PATH)
    send_and_wait(qtbot, window, "Show me code")
    window.sidebar.search_box.setText("code")
    unnamed: list[str] = []
    checked = 0
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisible():
            continue
        checked += 1
        interface = QAccessible.queryAccessibleInterface(widget)
        name = interface.text(QAccessible.Text.Name) if interface is not None else ""
        if not name.strip():
            unnamed.append(f"{type(widget).__name__} {widget.objectName()!r} in "
                           f"{type(widget.parent()).__name__} {widget.parent().objectName()!r}")
    assert checked > 15
    assert unnamed == []
