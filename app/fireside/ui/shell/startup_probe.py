"""FIRESIDE_STARTUP_PROBE=1: report when the window is first painted (and the model is ready), then quit.

The start-up benchmark (tests/benchmarks/startup.py) needs to know when a user would first see
the window, which only the process itself can tell. With the variable set, `run_gui` installs this
probe: on the first paint of the main window it prints one JSON line to stdout,
`{"probe": "shown", "monotonic": …, "rss_bytes": …}`, and quits; if a model was given
(`fireside --model X`) it waits for the load to finish and prints a second line,
`{"probe": "ready", …, "model_rss_bytes": …, "n_ctx": …}` (or `"failed"`) before quitting.
`monotonic` is `time.monotonic()`, one clock for every process on Linux and macOS, so the parent
subtracts the moment it spawned the child. Nothing changes when the variable is unset.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

from fireside.core.procmem import mapped_rss_bytes, rss_bytes

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow

PROBE_ENV = "FIRESIDE_STARTUP_PROBE"


def enabled() -> bool:
    return os.environ.get(PROBE_ENV, "") not in ("", "0")


def report(event: str, **fields: Any) -> None:
    line = {"probe": event, "monotonic": time.monotonic(), "rss_bytes": rss_bytes(), **fields}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


class _FirstPaint(QObject):
    """Application-wide filter, removed after the first Paint event of a widget in `window`."""

    def __init__(self, window: QWidget, after: Any) -> None:
        super().__init__(window)
        self._window = window
        self._after = after
        self._seen = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (not self._seen and event.type() == QEvent.Type.Paint and isinstance(watched, QWidget)
                and watched.window() is self._window):
            self._seen = True
            app = QCoreApplication.instance()
            if app is not None:
                app.removeEventFilter(self)
            QTimer.singleShot(0, self._after)  # once this paint pass has finished and flushed
        return False


def install(window: MainWindow, model_path: str | None = None) -> None:
    """Print "shown" after the first paint; with a model, wait for it and print "ready"; quit."""
    app = QCoreApplication.instance()
    assert app is not None
    state = {"shown": False, "done": model_path is None}

    def finish() -> None:
        if state["shown"] and state["done"]:
            QTimer.singleShot(0, app.quit)

    def shown() -> None:
        report("shown")
        state["shown"] = True
        finish()

    if model_path is not None:
        def loaded(info: Any) -> None:
            report("ready", model_rss_bytes=mapped_rss_bytes(model_path), n_ctx=getattr(info, "n_ctx", 0))
            state["done"] = True
            finish()

        def failed(message: str) -> None:
            report("failed", message=message)
            state["done"] = True
            finish()

        window.modelLoaded.connect(loaded)
        window.modelLoadFailed.connect(failed)
    app.installEventFilter(_FirstPaint(window, shown))
