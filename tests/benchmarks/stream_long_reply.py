"""Benchmark (not a test): the longest GUI-thread stall while a 50,000-token reply streams.

Run: `QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.benchmarks.stream_long_reply [TOKENS]`.
A ScriptedEngine plays TOKENS answer pieces at 2,000 tokens a second (some 50 times faster than
gpt-oss-20b on a laptop CPU, so each batch re-renders more text than in real use), while the
history saves the partial reply twice a second. A 2 ms heartbeat timer on the GUI thread records
the longest gap between its ticks: the longest time the window could not respond. Reported
separately: the stall while streaming, and the one-off stall around the finish (stats footer,
final save, re-layout; a reply this long stays plain text, see MARKDOWN_MAX_CHARS).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(tokens: int = 50_000) -> None:
    os.environ["FIRESIDE_HOME"] = tempfile.mkdtemp(prefix="fireside-bench-")
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from fireside.core.paths import app_paths
    from fireside.ui.main_window import MainWindow
    from tests.helpers.stubs import ScriptedEngine

    _app = QApplication.instance() or QApplication(sys.argv)
    class PacedEngine(ScriptedEngine):
        def stream(self, request, cancel=None):  # type: ignore[no-untyped-def]
            events = super().stream(request, cancel)

            def paced():  # type: ignore[no-untyped-def]
                for n, event in enumerate(events):
                    if n % 20 == 0:
                        time.sleep(0.01)  # sleep-ok: paces the tokens like a (fast) model
                    yield event

            return paced()

    words = [f" word{n % 997}" + ("\n\n" if n % 60 == 59 else "") for n in range(tokens)]
    engine = PacedEngine(reasoning=(), answer=tuple(words))
    window = MainWindow(lambda: engine, paths=app_paths().ensure())
    window.resize(1000, 700)
    window.show()

    def wait(signal) -> None:  # type: ignore[no-untyped-def]
        loop = QEventLoop()
        signal.connect(loop.quit)
        loop.exec()

    window.load_model("/models/gpt-oss-20b-mxfp4.gguf")
    wait(window.modelLoaded)
    gaps: list[tuple[float, bool]] = []  # (gap ms, still streaming)
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    heartbeat = QTimer(interval=2)

    def tick() -> None:
        now = clock.elapsed()
        gaps.append((now - last[0], window.is_generating))
        last[0] = now

    heartbeat.timeout.connect(tick)
    heartbeat.start()
    start = time.perf_counter()
    window.send_message("Write a very long essay.")
    wait(window.replyFinished)
    total = time.perf_counter() - start
    settle = QEventLoop()
    QTimer.singleShot(300, settle.quit)
    settle.exec()  # let the heartbeat observe the Markdown render after the finish
    heartbeat.stop()
    streaming = max((g for g, s in gaps if s), default=0.0)
    overall = max((g for g, _ in gaps), default=0.0)
    text = window.chat_model.item(1).text
    saved = window.history.store.active_path(window.history.current_id)[-1]
    print(f"{tokens:,} tokens ({len(text):,} characters) streamed in {total:.1f} s")
    print(f"longest GUI-thread stall while streaming: {streaming:.0f} ms")
    print(f"longest GUI-thread stall including the finish (stats, save, layout): {overall:.0f} ms")
    print(f"saved reply complete: {saved.text == text} ({saved.status})")
    window.close()
    window.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
