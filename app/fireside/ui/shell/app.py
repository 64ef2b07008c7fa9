"""Start the GUI: one QApplication, one MainWindow, the real engine unless a test swaps it."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from fireside.core.chat.session import ToolRunner
from fireside.core.config.paths import app_paths
from fireside.core.engine.protocol import Engine
from fireside.ui import wording
from fireside.ui.shell import single_instance, startup_probe

if TYPE_CHECKING:  # imported in create_window: a second launch hands over without loading it
    from fireside.ui.shell.main_window import MainWindow

log = logging.getLogger(__name__)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON_NAMES = ("fireside.svg", "fireside.png", "icon.svg", "icon.png")


def default_tools_factory() -> ToolRunner:
    """The tool registry (MCP servers from mcp.json, the sandboxed python tool), made on the
    inference worker's thread: importing the MCP SDK and starting servers takes a moment."""
    from fireside.core.tools.defaults import build_registry

    return build_registry()


def default_engine_factory() -> Engine:
    """The in-process llama.cpp engine with the shared-prefix store in Fireside's cache folder,
    imported late: loading llama.cpp takes a moment."""
    from fireside.core.engine.llama_engine import LlamaEngine
    from fireside.core.engine.prefix_state import PrefixStore

    return LlamaEngine(prefix_store=PrefixStore.default())


def application() -> QApplication:
    """The QApplication, created once with Fireside's names (they decide where Qt stores things)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName(wording.APP_NAME)
    app.setOrganizationName(wording.APP_NAME)
    app.setApplicationDisplayName(wording.APP_NAME)
    icon = next((RESOURCES / n for n in ICON_NAMES if (RESOURCES / n).is_file()), None)
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    return app


def create_window(
    model_path: str | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    *,
    auto_load_last: bool | None = None,
) -> MainWindow:
    """The main window; loads `model_path` now, or else the last model used if it still exists."""
    from fireside.ui.shell.main_window import MainWindow

    paths = app_paths()
    window = MainWindow(
        engine_factory or default_engine_factory,
        settings_path=paths.settings_file,
        paths=paths,
        auto_load_last=(model_path is None) if auto_load_last is None else auto_load_last,
        tools_factory=default_tools_factory,
    )
    if model_path:
        window.load_model(os.path.abspath(os.path.expanduser(model_path)))
    return window


def run_gui(
    model_path: str | None = None, engine_factory: Callable[[], Engine] | None = None
) -> int:
    """Open the window (loading `model_path` if given) and run until it closes; the exit code.

    If a window is already open for this data folder, hand `model_path` to it and return 0."""
    app = application()
    model = os.path.abspath(os.path.expanduser(model_path)) if model_path else None
    instance = single_instance.claim_or_hand_over(app_paths().data, model)
    if instance is True:
        print(f"Fireside is already open: {'it is loading ' + model if model else 'its window'}"
              f"{' and' if model else ''} was brought to the front.")
        return 0
    if instance is False:
        print("fireside: Fireside is already open for this data folder but does not answer; "
              "close it (or end its process) and try again.", file=sys.stderr)
        return 1
    try:
        window = create_window(model_path, engine_factory)
        _follow_handovers(window, instance)
        app.aboutToQuit.connect(window.shutdown)
        if startup_probe.enabled():  # the start-up benchmark's hook; see startup_probe.py
            startup_probe.install(window, model)
        window.show()
        return app.exec()
    finally:
        instance.close()


def _follow_handovers(window: MainWindow, instance: single_instance.InstanceServer) -> None:
    """A later launch raises this window and, given a model, loads it here (public API only)."""

    def bring_to_front() -> None:
        if window.isMinimized():
            window.showNormal()
        window.show()
        window.raise_()
        window.activateWindow()

    def load(path: str) -> None:
        if not window.load_model(path):
            log.info("Not loading %s handed over by another launch: the window is busy.", path)

    instance.raiseRequested.connect(bring_to_front)
    instance.modelRequested.connect(load)
    window.modelLoaded.connect(lambda info: log.info("Model loaded: %s", info.path))
    window.modelLoadFailed.connect(lambda message: log.info("Model not loaded: %s", message))
