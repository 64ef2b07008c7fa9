"""A model file llama.cpp refuses: the window shows a banner and keeps the model it had loaded."""

from __future__ import annotations

from pathlib import Path

from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, save_settings
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.ui.shell.main_window import MainWindow
from tests.ui.conftest import MakeWindow


def test_a_refused_file_leaves_the_loaded_model_in_place(
    qtbot, make_window: MakeWindow, paths: Paths, tiny_gptoss_path: Path, tmp_path: Path
) -> None:
    save_settings(Settings(n_ctx=512), paths.settings_file)
    engine = LlamaEngine()
    window: MainWindow = make_window(engine)  # type: ignore[arg-type]
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000):
        assert window.load_model(str(tiny_gptoss_path))
    # an unknown tokenizer: the Python checks pass it, llama.cpp (in the child) refuses it
    bad = tmp_path / "odd-tokenizer.gguf"
    bad.write_bytes(
        tiny_gptoss_path.read_bytes().replace(
            b"tokenizer.ggml.model\x08\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00gpt2",
            b"tokenizer.ggml.model\x08\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00zzz9",
        )
    )
    with qtbot.waitSignal(window.modelLoadFailed, timeout=60_000) as failed:
        assert window.load_model(str(bad))
    assert "cannot load odd-tokenizer.gguf" in failed.args[0]
    assert window.error_banner.isVisible()
    assert "cannot load odd-tokenizer.gguf" in window.error_banner.text()
    assert window.model_info is not None and window.model_info.path == str(tiny_gptoss_path)
    assert engine.info is not None and engine.info.path == str(tiny_gptoss_path)
    with qtbot.waitSignal(window.replyFinished, timeout=120_000):
        assert window.send_message("Hi")
