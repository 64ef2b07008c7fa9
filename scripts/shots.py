"""Shared pieces of the screenshot drivers: the source tree on the path, the app in a throwaway
home, the main window and its model manager, waiting on the event loop, grabbing the X screen,
and a dark palette.

A driver imports this module first (it puts the source tree ahead of any installed Fireside):

    from shots import settle, shoot_screen, start_app  # noqa: E402 (after the path setup)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

ROOT = Path(__file__).resolve().parent.parent
for _entry in (ROOT, ROOT / "app"):  # the app's source, and `tests.helpers` for the fakes
    if str(_entry) not in sys.path:
        sys.path.insert(0, str(_entry))

from PySide6.QtCore import QEventLoop, QTimer, SignalInstance  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolBar, QWidget  # noqa: E402

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow

W = TypeVar("W", bound=QWidget)
MODEL = "/models/gpt-oss-20b-mxfp4.gguf"  # the name the scripted engine "loads"
Step = Generator[Callable[[], bool], None, None]


def no_display(hint: str = ":98") -> bool:
    """True (having said how to get one) when there is no X display to take pictures of."""
    if os.environ.get("DISPLAY"):
        return False
    print(f"Needs an X display: Xvfb {hint} -screen 0 1400x900x24 & DISPLAY={hint} …", file=sys.stderr)
    return True


def start_app(prefix: str = "fireside-screens-") -> tuple[QApplication, Path]:
    """The application, in the Fusion style, with FIRESIDE_HOME a new empty folder (returned)."""
    from fireside.ui.shell.app import application

    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["FIRESIDE_HOME"] = str(home)
    app = application()
    app.setStyle("Fusion")
    return app, home


def screens_folder() -> Path:
    """The pictures' folder: the first command-line argument, else ./screens; made if missing."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screens").resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out


def out_option(doc: str, home: Path) -> Path:
    """The pictures' folder from `--out` (default `home`/png); `doc`'s first line is the help."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--out", type=Path, default=home / "png")
    return Path(p.parse_args().out)


def fresh_home(home: Path, out: Path) -> None:
    """FIRESIDE_HOME=`home`, wiped first; `out` (for the pictures) made; Qt on the X display."""
    shutil.rmtree(home, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["FIRESIDE_HOME"] = str(home)
    os.environ.pop("QT_QPA_PLATFORM", None)


def show_window() -> MainWindow:
    """The real main window (no model loaded), 1200x800 in the screen's top left corner, shown."""
    from fireside.ui.shell.app import create_window

    window = create_window(auto_load_last=False)
    window.resize(1200, 800)
    window.move(0, 0)
    window.show()
    return window


def open_models(window: MainWindow) -> Step:
    """Steps: press the toolbar's Models button, until the model manager is up (top() finds it)."""
    from fireside.ui.models.model_manager import ModelManagerDialog

    toolbar = window.findChild(QToolBar, "modelsToolbar")
    assert toolbar is not None
    models = next(a for a in toolbar.actions() if "Models" in a.text())
    QTimer.singleShot(0, models.trigger)  # exec() nests a loop; let this step return
    yield lambda: top(ModelManagerDialog) is not None


def painted(seconds: float = 0.4) -> Callable[[], bool]:
    """A step that lets the event loop paint what the last lines changed."""
    since = time.monotonic()
    return lambda: time.monotonic() - since > seconds


def settle(ms: int = 400) -> None:
    """Let the event loop run for `ms` (layouts, animations, queued signals) before a picture."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot_screen(out: Path, name: str, settle_ms: int = 400) -> Path:
    """Settle, then grab the whole X screen (dialogs included) into `out / name`."""
    settle(settle_ms)
    path = out / name
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(f"saved {path}", flush=True)
    return path


def top(cls: type[W]) -> W | None:
    """The visible top-level window of type `cls`, if one is up."""
    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, cls) and w.isVisible()),
                None)


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


def wait_until(predicate: Callable[[], bool], timeout_ms: int = 10_000) -> bool:
    """Run the event loop until `predicate()` holds or `timeout_ms` passes; whether it held."""
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: predicate() and loop.quit())
    poll.start(20)
    QTimer.singleShot(timeout_ms, loop.quit)
    if not predicate():
        loop.exec()
    poll.stop()
    return predicate()


def require(predicate: Callable[[], bool], timeout_s: float = 90) -> None:
    """wait_until, but a driver cannot go on without it: exit naming the caller's line."""
    if not wait_until(predicate, int(timeout_s * 1000)):
        raise SystemExit(f"timed out waiting at line {sys._getframe(1).f_lineno}")


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
