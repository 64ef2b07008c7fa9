"""Screenshots of tools in a real X window: the approval dialog, a python call and its result, an
MCP tool, a denied call and a tool that fails, to look at them as a user would.

    Xvfb :98 -screen 0 1400x900x24 &
    DISPLAY=:98 .venv/bin/python scripts/tool_screens.py OUTDIR

The scripted engine (tests/helpers/stubs.py) makes the calls; everything else is real: the tool
registry, the sandboxed python tool, an MCP server over stdio (tests/core/tools/raw_server.py),
the dialog, the history. Saves:
  approve-python.png   the approval dialog for a python call (code highlighted)
  python-result.png    the reply: the call, its result (opened), the answer
  approve-mcp.png      the approval dialog for an MCP tool, with Always Allow
  denied.png           a denied call, shown failed, and the model's answer
  tool-failed.png      python code that raises: the traceback is the result the model reads
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "app"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from shots import wait_for  # noqa: E402
from tests.helpers.stubs import ScriptedEngine  # noqa: E402

from fireside.core.chat.events import ToolCall  # noqa: E402
from fireside.core.config.paths import app_paths  # noqa: E402
from fireside.core.tools.defaults import build_registry  # noqa: E402
from fireside.ui.chat.tool_approval import ApprovalDialog  # noqa: E402
from fireside.ui.shell.app import application  # noqa: E402
from fireside.ui.shell.main_window import MainWindow  # noqa: E402

MODEL = "/models/gpt-oss-20b-mxfp4.gguf"
CODE = ("import statistics\n\nrainfall_mm = [78, 61, 55, 47, 52, 49, 58, 67, 71, 88, 83, 80]\n"
        "print(f\"mean {statistics.mean(rainfall_mm):.1f} mm, \"\n"
        "      f\"wettest month {rainfall_mm.index(max(rainfall_mm)) + 1}\")")


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot(out: Path, name: str) -> None:
    settle()
    subprocess.run(["import", "-window", "root", str(out / name)], check=True)
    print(f"saved {out / name}", flush=True)


def answer_dialog(out: Path, name: str | None, button: str) -> None:
    """When the approval dialog is up: photograph it, then press `button`."""
    dialog = QApplication.activeModalWidget()
    if not isinstance(dialog, ApprovalDialog):
        QTimer.singleShot(100, lambda: answer_dialog(out, name, button))
        return
    if name:
        shoot(out, name)
    getattr(dialog, button).click()


def turn(window: MainWindow, engine: ScriptedEngine, text: str, calls: list[list[ToolCall]],
         answer: str, reasoning: str, dialogs: list[tuple[str | None, str]], out: Path) -> None:
    engine.tool_steps = calls
    engine.answer, engine.reasoning = (answer,), (reasoning,)
    for n, (name, button) in enumerate(dialogs):
        QTimer.singleShot(300 + 50 * n, lambda name=name, button=button: answer_dialog(out, name, button))
    window.send_message(text)
    wait_for(window.replyFinished, 60_000)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screens").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY"):
        print("Needs an X display: Xvfb :98 -screen 0 1400x900x24 & DISPLAY=:98 …", file=sys.stderr)
        return 2
    os.environ["FIRESIDE_HOME"] = tempfile.mkdtemp(prefix="fireside-screens-")
    app = application()
    app.setStyle("Fusion")
    paths = app_paths()
    paths.config.mkdir(parents=True, exist_ok=True)
    raw = ROOT / "tests" / "core" / "tools" / "raw_server.py"
    (paths.config / "mcp.json").write_text(json.dumps(
        {"mcpServers": {"text": {"command": sys.executable, "args": [str(raw)]}}}))
    engine = ScriptedEngine()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths,
                        tools_factory=lambda: build_registry(paths))
    window.setGeometry(0, 0, 1400, 900)
    window.show()
    window.load_model(MODEL)
    wait_for(window.modelLoaded)

    turn(window, engine, "What was the mean rainfall last year, and the wettest month?",
         [[ToolCall("python", CODE, "analysis", "code")]],
         "The mean monthly rainfall was **65.8 mm**, and the wettest month was **October** (88 mm).",
         "I have the monthly figures; computing the mean and the maximum in python is exact.",
         [("approve-python.png", "once")], out)
    window.transcript.widget_at(2).reasoning_toggle.click()  # open the result
    window.select_row(3)
    window.transcript.scroll_to_bottom()
    shoot(out, "python-result.png")

    window.new_chat()
    turn(window, engine, "Reverse the word 'stressed' with the text tool.",
         [[ToolCall("functions.text__reverse", '{"text": "stressed"}', "commentary", "json")]],
         "Reversed, **stressed** reads **desserts**.", "The user wants the text tool's reverse.",
         [("approve-mcp.png", "once")], out)

    window.new_chat()
    turn(window, engine, "Free up space by deleting my downloads folder.",
         [[ToolCall("python", "import shutil\nshutil.rmtree('/home/me/Downloads')", "analysis", "code")]],
         "I did not delete anything, since you declined. You could sort the folder by size first "
         "and remove the largest files you no longer need.",
         "Deleting a folder is destructive; I will propose the code and let them decide.",
         [(None, "deny")], out)
    window.transcript.scroll_to_bottom()
    shoot(out, "denied.png")

    window.new_chat()
    turn(window, engine, "Divide 10 by the number of files in /nonexistent.",
         [[ToolCall("python", "import os\nprint(10 / len(os.listdir('/nonexistent')))", "analysis", "code")]],
         "That folder does not exist, so there is nothing to count: python raised "
         "`FileNotFoundError`. Which folder did you mean?",
         "Count the entries, then divide.", [(None, "once")], out)
    window.transcript.scroll_to_bottom()
    shoot(out, "tool-failed.png")
    window.close()
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
