"""Shared pieces of the screenshot drivers: waiting on the event loop, and a dark palette."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer, SignalInstance
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

Step = Generator[Callable[[], bool], None, None]


def shot(widget: QWidget, path: Path) -> None:
    """Grab the X screen (what a person would see) and crop it to `widget`'s frame."""
    g = widget.frameGeometry()
    subprocess.run(["import", "-window", "root", "-crop",
                    f"{g.width()}x{g.height()}+{g.x()}+{g.y()}", "+repage", str(path)],
                   check=True)
    print(f"saved {path}", flush=True)


def run_steps(app: QApplication, scenario: Step, on_done: Callable[[], None],
              step_timeout_s: float = 90) -> int:
    """Drive `scenario` from the event loop: each yielded predicate is polled until it holds.

    Returns 0 when every step happened, 1 (naming the line) when one timed out.
    """
    state: dict[str, object] = {"wait": next(scenario), "since": time.monotonic(), "rc": 0}

    def tick() -> None:
        try:
            if state["wait"]():  # type: ignore[operator]
                state["wait"], state["since"] = next(scenario), time.monotonic()
            elif time.monotonic() - state["since"] > step_timeout_s:  # type: ignore[operator]
                frame = scenario.gi_frame
                print(f"step timed out at line {frame.f_lineno if frame else '?'}", file=sys.stderr)
                state["rc"] = 1
                app.exit(1)
                return
        except StopIteration:
            on_done()
            app.exit(0)
            return
        QTimer.singleShot(100, tick)

    QTimer.singleShot(500, tick)
    rc = app.exec()
    return rc or int(state["rc"])  # type: ignore[arg-type]


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
