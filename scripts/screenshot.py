"""Save a PNG of the main window, driven by the scripted engine, to look at the UI without a display.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py out.png
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --first-run first.png
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py --dark --thinking dark.png
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "app"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QStyleFactory  # noqa: E402
from shots import dark_palette, wait_for, wait_until  # noqa: E402
from tests.helpers.stubs import ScriptedEngine  # noqa: E402

from fireside.core.chat.conversation import Effort  # noqa: E402
from fireside.core.config.paths import app_paths  # noqa: E402
from fireside.ui.shell.app import application  # noqa: E402
from fireside.ui.shell.main_window import MainWindow  # noqa: E402

MODEL = "/models/gpt-oss-20b-mxfp4.gguf"
QUESTION = "What's a good way to keep a campfire going through a long, windy night?"
REASONING = (
    "The user asks about keeping a campfire going overnight in wind. Key points: a wind break, ",
    "a bed of coals, the right fuel sizes, and safety (never leave it unattended). ",
    "I should keep it practical and short, and mention checking local fire rules.",
)
FIRST_REASONING = ("The user wants help planning a camping trip. Ask where and when, ",
                   "and offer a short checklist to start.")
FIRST_ANSWER = ("Happily! Where are you heading, and for how many nights? ",
                "Tell me that and I'll put together a gear list and a simple meal plan.")
ANSWER = (
    "Build it low and sheltered, then feed it steadily:\n\n",
    "1. Pick a spot out of the wind, or stack rocks or logs on the windward side as a break.\n",
    "2. Let a thick bed of coals form before the night starts; coals hold heat when gusts hit.\n",
    "3. Keep three piles within reach: kindling, wrist-thick sticks and a few big logs.\n",
    "4. Add one big log at a time, laid parallel to the wind so it burns slowly.\n\n",
    "Never leave it unattended, keep water nearby, and check local fire rules first: ",
    "https://example.org/a-very-long-link-without-any-spaces-that-must-wrap-not-overflow",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--first-run", action="store_true", help="the empty, no-model state")
    parser.add_argument("--thinking", action="store_true", help="capture while still reasoning")
    parser.add_argument("--plain", action="store_true", help="a non-harmony model with a note")
    parser.add_argument("--error", action="store_true", help="a model that fails to load")
    parser.add_argument("--dark", action="store_true", help="use a dark palette")
    parser.add_argument("--draft", default="Thanks! And what should I pack?",
                        help="text left in the message box (\\n for new lines)")
    parser.add_argument("--size", default="960x680", help="window size, e.g. 1280x800")
    args = parser.parse_args()

    os.environ["FIRESIDE_HOME"] = tempfile.mkdtemp(prefix="fireside-shot-")
    app = application()
    if args.dark:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette())
    gate = threading.Event() if args.thinking else None
    engine = ScriptedEngine(
        reasoning=REASONING, answer=ANSWER, gate_after=len(REASONING),
        prompt_format="plain" if args.plain else "harmony",
        note="This model has no chat template, so Fireside talks to it as a plain transcript."
        if args.plain else "",
        fail_paths={MODEL: "This file isn't a complete GGUF model (it ends after 1.2 GB). "
                    "It may still be downloading; try again once it has finished."}
        if args.error else {},
    )
    paths = app_paths()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    if not args.first_run:
        window.composer.set_effort(Effort.HIGH)
        window.load_model(MODEL)
        wait_for(window.modelLoadFailed if args.error else window.modelLoaded)
    if not (args.first_run or args.error):
        engine.reasoning, engine.answer = FIRST_REASONING, FIRST_ANSWER
        engine.token_counts = (31, 24)
        window.send_message("Hi! Can you help me plan a camping trip?")
        wait_for(window.replyFinished)
        engine.reasoning, engine.answer = REASONING, ANSWER
        engine.token_counts = (58, 131)
        engine.gate = gate  # only the second reply pauses, so --thinking can catch it mid-thought
        window.composer.text_edit.setPlainText(QUESTION)
        window.composer.text_edit.submitted.emit()
        if args.thinking:
            reply = window.chat_model.item(window.chat_model.rowCount() - 1)
            wait_until(lambda: engine.reached_gate.is_set() and len(reply.reasoning) > 40)
        else:
            wait_for(window.replyFinished)
        window.composer.text_edit.setPlainText(args.draft.replace("\\n", "\n"))
    for _ in range(5):  # layout requests ripple up one parent per pass
        app.processEvents()
    ok = window.grab().save(str(args.output))
    if gate is not None:
        gate.set()
    window.close()
    print(f"saved {args.output}" if ok else f"could not save {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
