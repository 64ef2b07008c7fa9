"""Guard against the PySide6 release that broke None's reference count.

PySide6-Essentials 6.12.0 on Python 3.11 drops a reference to None on every void Qt call
(`label.setText(...)`), so a few thousand widget updates (a long streamed reply, a 500-message
chat) abort the app with "none_dealloc: deallocating None". pyproject.toml pins PySide6 below
6.12; this test fails if a release with the bug comes back.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_leave_none_alone(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(2000):
        label.setText(str(i))
        label.setVisible(False)
    assert sys.getrefcount(None) - before > -100
