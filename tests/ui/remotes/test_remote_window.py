"""The window on a remote engine, against a real HTTP server on 127.0.0.1 that speaks the OpenAI
API (tests/helpers/openai_peer.py, through the official `openai` client): the reply streams with
its reasoning, is saved with the remote model's name, a failed connection keeps the model in use,
and the key lives only in the keyring."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from fireside.core.config.paths import Paths
from fireside.core.engine.remote_engine import RemoteEngine
from fireside.ui.remotes.target import RemoteTarget
from fireside.ui.shell.main_window import MainWindow
from tests.helpers.openai_peer import OpenAIPeer
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MODEL_PATH, MakeWindow
from tests.ui.remotes.conftest import ANSWER, KEY, REASONING, keyring_contents, save_connection
from tests.ui.shell.test_main_window import send_and_wait


def _load_local(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        assert window.load_model(MODEL_PATH)


def _saved_replies(window: MainWindow) -> list[tuple[str, str, str]]:
    assert window.history is not None
    store = window.history.store
    return [(m.text, m.reasoning, m.model) for m in store.active_path(window.current_chat())
            if m.role == "assistant"]


def test_a_conversation_runs_on_a_remote_model_and_each_reply_names_its_engine(
        qtbot, make_window: MakeWindow, paths: Paths, peer: OpenAIPeer,  # type: ignore[no-untyped-def]
        keyring_file: Path) -> None:
    engine = ScriptedEngine()
    window = make_window(engine)
    window.show()
    _load_local(qtbot, window)
    send_and_wait(qtbot, window, "Hello here")
    save_connection(paths, "lab", peer.url)

    with qtbot.waitSignal(window.modelLoaded, timeout=10_000) as loaded:
        assert window.load_remote(RemoteTarget("lab", "gpt-oss-120b"))
    info = loaded.args[0]
    assert info.is_remote and info.name == "gpt-oss-120b"
    assert window.remote_label == "lab"
    assert window.windowTitle().startswith("gpt-oss-120b on lab (remote)")
    assert window.status_label.text().startswith("gpt-oss-120b on lab (remote)")
    assert engine.info is None  # the local model was freed once the remote one was ready
    assert window.reasoning_panel.isVisible()

    row = send_and_wait(qtbot, window, "Why are there tides?")
    item = window.chat_model.item(row)
    assert item.text == "".join(ANSWER) and item.reasoning == "".join(REASONING)
    assert window.reasoning_panel.isVisible()
    path, headers, body = peer.requests[-1]
    assert path == "/v1/responses" and headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "gpt-oss-120b" and body["stream"] is True
    # the earlier local turn is part of what the remote model is asked
    assert "Hello here" in str(body["input"])
    replies = _saved_replies(window)
    assert replies[0][2] == "gpt-oss-20b-mxfp4"
    assert replies[1] == ("".join(ANSWER), "".join(REASONING), "lab:gpt-oss-120b")

    # and back to the model on this computer: the remote engine is closed, replies say local
    with qtbot.waitSignal(window.modelLoaded, timeout=5000):
        assert window.load_model(MODEL_PATH)
    assert window.remote_label == "" and "(remote)" not in window.windowTitle()
    send_and_wait(qtbot, window, "And now?")
    assert _saved_replies(window)[2][2] == "gpt-oss-20b-mxfp4"
    assert window.settings.last_model == MODEL_PATH  # a remote model is never "the last file"

    assert KEY not in (paths.config / "remotes.json").read_text()
    assert not paths.settings_file.exists() or KEY not in paths.settings_file.read_text()
    assert keyring_contents(keyring_file) == {"Fireside/remote-api-key:lab": KEY}


def test_the_remote_engine_is_opened_on_the_worker_thread(
        qtbot, make_window: MakeWindow, paths: Paths, peer: OpenAIPeer,  # type: ignore[no-untyped-def]
        keyring_file: Path) -> None:
    window = make_window(ScriptedEngine())
    opened_on: list[str] = []
    original = window._open_remote

    def spy(target: RemoteTarget) -> RemoteEngine:
        opened_on.append(threading.current_thread().name)
        return original(target)  # type: ignore[return-value]

    window.worker._remote_opener = spy
    save_connection(paths, "lab", peer.url)
    with qtbot.waitSignal(window.modelLoaded, timeout=10_000):
        window.load_remote(RemoteTarget("lab"))  # the connection's default model
    assert window.model_info is not None and window.model_info.name == "gpt-oss-120b"
    assert opened_on and opened_on[0] != threading.main_thread().name


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_connection_shows_a_banner_and_keeps_the_model_in_use(
        qtbot, make_window: MakeWindow, paths: Paths, peer: OpenAIPeer,  # type: ignore[no-untyped-def]
        keyring_file: Path) -> None:
    engine = ScriptedEngine()
    window = make_window(engine)
    window.show()
    _load_local(qtbot, window)
    save_connection(paths, "wrongkey", peer.url, key="sk-wrong")
    save_connection(paths, "gone", f"http://127.0.0.1:{_closed_port()}/v1")

    for name, words in (("wrongkey", "refused the API key (401"), ("gone", "Could not reach gone"),
                        ("nosuch", "There is no remote connection named “nosuch”")):
        with qtbot.waitSignal(window.modelLoadFailed, timeout=20_000) as failed:
            assert window.load_remote(RemoteTarget(name, "gpt-oss-120b"))
        assert words in failed.args[0] and not failed.args[0].startswith("Something went wrong")
        assert window.error_banner.isVisible() and words in window.error_banner.text_label.text()
        assert window.model_info is not None and window.model_info.name == "gpt-oss-20b-mxfp4"
        assert engine.info is not None  # the local model was never unloaded
        assert window.remote_label == "" and "(remote)" not in window.windowTitle()
        assert "sk-wrong" not in failed.args[0]

    row = send_and_wait(qtbot, window, "Still there?")  # the kept model still answers
    assert window.chat_model.item(row).text == "".join(engine.answer)

    # a remote in use stays in use when the next remote fails
    save_connection(paths, "lab", peer.url)
    with qtbot.waitSignal(window.modelLoaded, timeout=10_000):
        window.load_remote(RemoteTarget("lab", "gpt-oss-120b"))
    with qtbot.waitSignal(window.modelLoadFailed, timeout=10_000) as failed:
        window.load_remote(RemoteTarget("lab", "no-such-model"))
    assert "does not offer the model “no-such-model”" in failed.args[0]
    assert window.remote_label == "lab" and window.model_info is not None
    row = send_and_wait(qtbot, window, "Tides?")
    assert window.chat_model.item(row).text == "".join(ANSWER)
