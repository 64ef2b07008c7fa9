"""Benchmark (not a test): how long opening a 500-message conversation from the store takes.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.benchmarks.open_long_chat`. It builds a
throwaway history (250 questions, 250 replies of a few paragraphs with reasoning), opens it in a
real MainWindow and reports the time until the transcript is laid out, i.e. what the user waits.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(messages: int = 500, runs: int = 5) -> None:
    home = Path(tempfile.mkdtemp(prefix="fireside-bench-"))
    os.environ["FIRESIDE_HOME"] = str(home)
    from PySide6.QtWidgets import QApplication

    from fireside.core.config.paths import app_paths
    from fireside.core.history.store import Store
    from fireside.ui.shell.main_window import MainWindow
    from tests.helpers.stubs import ScriptedEngine

    paths = app_paths().ensure()
    with Store(paths.data / "conversations.sqlite3") as store:
        cid = store.create_conversation()
        parent = None
        for n in range(messages // 2):
            parent = store.add_message(cid, parent, "user", f"Question {n}: how does part {n} work?")
            parent = store.add_message(cid, parent, "assistant", ("An answer paragraph. " * 30 + "\n\n") * 3,
                                       "Some reasoning about it. " * 20, stats={"answer_tokens": 400})
    app = QApplication.instance() or QApplication(sys.argv)
    engine = ScriptedEngine()
    window = MainWindow(lambda: engine, paths=paths)
    window.show()
    app.processEvents()
    timings = []
    for _ in range(runs):
        window.history.new_chat()
        app.processEvents()
        start = time.perf_counter()
        window.history.open(cid)
        app.processEvents()  # layout and paint of the rebuilt transcript
        timings.append(time.perf_counter() - start)
    print(f"open {messages}-message conversation: median {statistics.median(timings) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms over {runs} runs")
    window.close()
    window.shutdown()


if __name__ == "__main__":
    import cProfile
    import pstats

    if os.environ.get("PROFILE"):
        cProfile.run("main(runs=1)", "/tmp/prof")
        pstats.Stats("/tmp/prof").sort_stats("cumulative").print_stats(25)
    else:
        main()
