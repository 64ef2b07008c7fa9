"""One end-to-end run of the window with the real llama.cpp engine on the tiny gpt-oss GGUF."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog

from fireside.core.chat.conversation import Sampling
from fireside.core.chat.events import ReplyStats
from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, save_settings
from fireside.ui.shell.main_window import MainWindow

MAX_TOKENS = 64
SAMPLING = Sampling(seed=0)  # what users get (temperature 1), made repeatable
MAX_GUI_STALL_S = 0.5  # a frozen window is noticed at a few hundred ms; allow for a loaded CI box


def test_real_engine_replies_in_the_window_and_the_gui_stays_responsive(
    qtbot, tiny_gptoss_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fireside.core.engine.llama_engine import LlamaEngine

    # The tiny model has a small context, and one thread: on a busy two-core CI box llama.cpp's
    # spinning thread pool can run a thousand times slower than a single thread.
    save_settings(Settings(n_ctx=512), paths.settings_file)
    window = MainWindow(
        LlamaEngine,
        settings_path=paths.settings_file,
        paths=paths,
        max_tokens=MAX_TOKENS,
        sampling=SAMPLING,
    )
    qtbot.addWidget(window)
    window.show()
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *args: (str(tiny_gptoss_path), "GGUF model files (*.gguf)")),
    )
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000) as loaded:
        qtbot.mouseClick(window.welcome.open_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0].is_harmony
    assert window.composer.effort_combo.isEnabled()

    ticks: list[float] = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(time.monotonic()))
    heartbeat.start()
    edit = window.composer.text_edit
    qtbot.keyClicks(edit, "Hello there, how are you?")
    with qtbot.waitSignal(window.replyFinished, timeout=120_000) as finished:
        started = time.monotonic()
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    ended = time.monotonic()
    heartbeat.stop()

    row = int(finished.args[0])
    item = window.chat_model.item(row)
    stats = item.stats
    assert isinstance(stats, ReplyStats)
    assert stats.prompt_tokens > 0
    generated = stats.reasoning_tokens + stats.answer_tokens
    assert 0 < generated <= MAX_TOKENS
    # The reply ends on the model's own end token (seed 0: after 53 tokens here) or is cut by the
    # limit, and "length" only ever with the limit reached (an end token may itself be the 64th).
    assert stats.stop_reason == "end" or (stats.stop_reason == "length" and generated == MAX_TOKENS)
    assert stats.tokens_per_s > 0  # more than one token was generated
    assert not item.error
    message = window.transcript.widget_at(row)
    for text in (item.text, item.reasoning, message.answer_label.text(),
                 message.reasoning_view.text(), window.reasoning_panel.trace_text()):
        assert "<|" not in text
    assert message.footer_label.text().endswith("answer tokens")

    # The GUI thread kept running its event loop while the worker generated.
    # (The tiny model writes thousands of tokens a second, so the reply may take only a few
    # heartbeats; what matters is that no gap between them is a stall.)
    during = [t for t in ticks if started <= t <= ended]
    assert during, "the GUI event loop never ran while the reply was generated"
    gaps = [b - a for a, b in zip([started, *during], [*during, ended], strict=True)]
    assert max(gaps) < MAX_GUI_STALL_S, f"GUI thread stalled for {max(gaps):.3f} s"
    window.close()
    assert not window._thread.isRunning()


def test_the_real_engines_overflow_message_reaches_the_window(
    qtbot, tiny_gptoss_path: Path, paths: Paths
) -> None:
    """A message longer than the whole context: nothing can be left out to fit it, so the reply
    fails with llama.cpp's engine's own sentence, shown in the transcript, and the chat goes on."""
    from fireside.core.engine.llama_engine import LlamaEngine
    from fireside.core.engine.protocol import ContextOverflow

    save_settings(Settings(n_ctx=256, n_threads=1), paths.settings_file)
    window = MainWindow(LlamaEngine, settings_path=paths.settings_file, paths=paths,
                        max_tokens=8, sampling=SAMPLING)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000):
        window.load_model(str(tiny_gptoss_path))
    with qtbot.waitSignal(window.replyFailed, timeout=60_000) as failed:
        window.send_message("word " * 400)
    row, message = failed.args
    n_ctx = window.model_info.n_ctx if window.model_info else 0
    prompt_tokens = int(message.split("(")[1].split(" tokens")[0].replace(",", ""))
    assert message == str(ContextOverflow.for_prompt(prompt_tokens, n_ctx))
    assert prompt_tokens > n_ctx == 256
    assert window.transcript.widget_at(row).error_label.text() == message
    assert not window.is_generating  # the chat goes on
    window.close()
