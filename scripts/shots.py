"""Shared pieces of the screenshot drivers: waiting on the event loop, and a dark palette."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QTimer, SignalInstance
from PySide6.QtGui import QColor, QPalette


def wait_for(signal: SignalInstance, timeout_ms: int = 10_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def wait_until(predicate: Callable[[], bool], timeout_ms: int = 10_000) -> None:
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: predicate() and loop.quit())
    poll.start(20)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    poll.stop()


def dark_palette() -> QPalette:
    """What a dark desktop hands Qt; Xvfb has no desktop, so the drivers set it themselves."""
    p = QPalette()
    role = QPalette.ColorRole
    for r, c in ((role.Window, "#202124"), (role.WindowText, "#e8eaed"), (role.Base, "#17181a"),
                 (role.AlternateBase, "#26272b"), (role.Text, "#e8eaed"), (role.Button, "#2b2c30"),
                 (role.ButtonText, "#e8eaed"), (role.Highlight, "#5b8def"),
                 (role.HighlightedText, "#ffffff"), (role.PlaceholderText, "#8a8d92"),
                 (role.ToolTipBase, "#2b2c30"), (role.ToolTipText, "#e8eaed"), (role.Link, "#8ab4f8")):
        p.setColor(r, QColor(c))
    return p
