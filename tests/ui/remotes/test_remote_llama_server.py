"""The window on llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`,
Gemma 3 270M) on 127.0.0.1: no /v1/responses there, so the remote engine falls back to Chat
Completions for real; the reply is saved with the connection's name; the key comes from the
keyring and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.config.paths import Paths
from fireside.ui.remotes.target import RemoteTarget
from tests.helpers.llama_server import ALIAS, KEY, llama_server
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MakeWindow
from tests.ui.remotes.conftest import save_connection
from tests.ui.shell.test_main_window import send_and_wait


@pytest.fixture(scope="module")
def server(gemma_path: Path) -> Iterator[str]:
    with llama_server(gemma_path) as url:
        yield url


def test_the_window_chats_with_llama_cpp_server_and_saves_the_remote_name(
        qtbot, make_window: MakeWindow, paths: Paths, server: str,  # type: ignore[no-untyped-def]
        keyring_file: Path) -> None:
    save_connection(paths, "lab", server, model=ALIAS, key=KEY)
    window = make_window(ScriptedEngine(), max_tokens=16)
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=30_000):
        assert window.load_remote(RemoteTarget("lab"))
    assert window.windowTitle().startswith(f"{ALIAS} on lab (remote)")
    assert window.model_info is not None and window.model_info.is_remote
    row = send_and_wait(qtbot, window, "Say hello.")
    item = window.chat_model.item(row)
    assert item.text.strip() and item.stats is not None and item.stats.answer_tokens > 0
    assert window.history is not None
    [reply] = [m for m in window.history.store.active_path(window.current_chat())
               if m.role == "assistant"]
    assert reply.model == f"lab:{ALIAS}" and reply.text == item.text and reply.status == "done"
