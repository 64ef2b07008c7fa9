"""Screenshots of the conversation features in a real X window, to look at them as a user would.

    Xvfb :98 -screen 0 1400x900x24 &
    DISPLAY=:98 .venv/bin/python scripts/conversation_screens.py OUTDIR

Drives the main window with the scripted engine (tests/helpers/stubs.py) and saves, with
ImageMagick's `import` (the whole X screen, so dialogs are in the picture):
  branched.png      a chat whose question was edited and whose answer regenerated ("‹ 2/2 ›")
  search.png        sidebar search results for a word in an older chat
  search-hit.png    that chat opened from the result, the word selected in the message
  code-light.png    a code-heavy answer (highlighted blocks, Copy buttons, a table), light theme
  code-dark.png     the same answer after the system palette turns dark
  code-large-text.png  the same answer at 150% text size (View ▸ Larger Text)
  export-dialog.png the Export This Chat dialog
  exported.png      the window after exporting, with the notice saying where the file went
"""

from __future__ import annotations

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
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog  # noqa: E402
from shots import dark_palette, wait_for  # noqa: E402
from tests.helpers.stubs import ScriptedEngine  # noqa: E402

from fireside.core.config.paths import app_paths  # noqa: E402
from fireside.ui.shell.app import application  # noqa: E402
from fireside.ui.shell.main_window import MainWindow  # noqa: E402

MODEL = "/models/gpt-oss-20b-mxfp4.gguf"
CODE_ANSWER = (
    "Here is a small, safe way to **escape HTML** in Python, and how to check it from a shell.\n\n"
    "```python\nimport html\n\n\ndef render(comment: str) -> str:\n"
    '    """Show a user comment without letting it run script."""\n'
    '    safe = html.escape(comment)  # "<script>" becomes "&lt;script&gt;"\n'
    '    return f"<p class=\\"comment\\">{safe}</p>"\n\n\n'
    'print(render("<script>alert(1)</script>"))\n```\n\n'
    "Run it:\n\n```bash\npython3 render.py | grep -c '&lt;script' && echo 'escaped'\n```\n\n"
    "| input | output |\n|---|---|\n| `<b>` | `&lt;b&gt;` |\n| `\"` | `&quot;` |\n\n"
    "The function never trusts `comment`; see https://docs.python.org/3/library/html.html."
)


def settle(ms: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot(out: Path, name: str) -> Path:
    settle()
    path = out / name
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(f"saved {path}")
    return path


def ask(window: MainWindow, engine: ScriptedEngine, text: str, answer: str,
        reasoning: str = "Let me think about what they need.") -> None:
    engine.answer, engine.reasoning = (answer,), (reasoning,)
    window.send_message(text)
    wait_for(window.replyFinished)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screens").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY"):
        print("Needs an X display: Xvfb :98 -screen 0 1400x900x24 & DISPLAY=:98 …", file=sys.stderr)
        return 2
    os.environ["FIRESIDE_HOME"] = tempfile.mkdtemp(prefix="fireside-screens-")
    app = application()
    app.setStyle("Fusion")
    engine = ScriptedEngine()
    paths = app_paths()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths)
    window.setGeometry(0, 0, 1400, 900)
    window.show()
    window.load_model(MODEL)
    wait_for(window.modelLoaded)
    history = window.history
    assert history is not None

    # An older chat for search to find
    ask(window, engine, "How do I keep a campfire going in the wind?",
        "Build a wind break from rocks on the windward side and keep a deep bed of coals.")
    window.new_chat()

    # A branched conversation: an edited question and a regenerated answer
    ask(window, engine, "Suggest a name for a cat.", "How about **Miso**? Short, warm and easy to call.")
    ask(window, engine, "Something more regal?", "Try **Duchess Clementine** or **Sir Pounce**.")
    engine.answer = ("For a grey cat: **Lady Ashford**, **Baron Slate** or **Pewter the Great**.",)
    window.edit_message(2, "Something more regal, for a grey cat?")  # what Edit does after the dialog
    wait_for(window.replyFinished)
    engine.answer = ("Perhaps **Sterling**, **Duke Smokesworth** or **Queen Nimbus**.",)
    engine.reasoning = ("Grey suggests silver and smoke; regal suggests titles.",)
    window.regenerate(3)
    wait_for(window.replyFinished)
    window.select_row(3)
    shoot(out, "branched.png")

    # Search results
    window.sidebar.focus_search()
    window.sidebar.search_box.setText("wind")
    shoot(out, "search.png")
    sidebar = window.sidebar
    sidebar.list.itemClicked.emit(sidebar.list.item(0))  # open the hit: the word is selected
    shoot(out, "search-hit.png")
    window.sidebar.search_box.clear()

    # A code-heavy answer, light then dark
    window.new_chat()
    ask(window, engine, "How do I escape HTML in Python?", CODE_ANSWER,
        reasoning="They want html.escape, an example with script tags, and a way to check it.")
    window.transcript.scroll_to_bottom()
    shoot(out, "code-light.png")
    light = QGuiApplication.palette()
    QGuiApplication.setPalette(dark_palette())  # what the platform does when the system goes dark
    shoot(out, "code-dark.png")
    QGuiApplication.setPalette(light)
    window.comfort.set_scale(150)  # View ▸ Larger Text, three times
    window.transcript.scroll_to_bottom()
    shoot(out, "code-large-text.png")
    window.comfort.set_scale(100)

    # Export: the dialog, then the notice
    for old in out.glob("*.md"):
        old.unlink()

    def in_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(100, in_dialog)
            return
        shoot(out, "export-dialog.png")
        dialog.setDirectory(str(out))  # keep the name it offers, save it next to the pictures
        dialog.accept()

    QTimer.singleShot(300, in_dialog)
    assert window.export_actions is not None
    window.export_actions.export_chats([history.current_id])
    shoot(out, "exported.png")
    ok = any(out.glob("*.md"))
    window.close()
    window.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
