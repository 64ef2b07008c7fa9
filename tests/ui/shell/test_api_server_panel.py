"""The window's Local API server: the toggle, address, key and live log, while a real client
streams from the window's own loaded model (the real engine on the tiny gpt-oss)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import openai
import pytest
from PySide6.QtGui import QGuiApplication

from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.ui.shell.api_server_panel import BUSY_TEXT


@pytest.fixture
def served_window(qtbot, make_window, paths, tiny_gptoss_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FIRESIDE_API_KEY", "fs-window-key")
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text("api_port = 0\nn_ctx = 1024\nauto_fit = false\nn_threads = 1\n")
    engine = LlamaEngine()
    window = make_window(engine)  # type: ignore[arg-type]
    window.show()
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.load_model(str(tiny_gptoss_path))
    assert isinstance(LoadConfig(), LoadConfig)
    return window


def test_the_toggle_serves_the_loaded_model_with_a_key_and_a_live_log(qtbot, served_window):  # type: ignore[no-untyped-def]
    window = served_window
    dialog = window.api_server.open_dialog(window)
    assert not dialog.toggle.isChecked() and dialog.address.text() == ""
    dialog.toggle.setChecked(True)
    url = dialog.address.text()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
    assert dialog.key.text() == "fs-window-key"
    assert dialog.key.echoMode() == dialog.key.EchoMode.Password
    dialog.copy.click()
    assert QGuiApplication.clipboard().text() == "fs-window-key"

    result: dict[str, object] = {}

    def client() -> None:
        with openai.OpenAI(base_url=url, api_key="fs-window-key", max_retries=0, timeout=60) as c:
            chunks = list(c.chat.completions.create(model="", messages=[{"role": "user",
                                                    "content": "Hi"}], max_tokens=24,
                                                    temperature=0, stream=True))
            result["model"] = chunks[-1].model
            result["finish"] = chunks[-1].choices[0].finish_reason

    busy: list[bool] = []
    window.api_server.busyChanged.connect(
        lambda b: busy.append(window.statusBar().currentMessage() == BUSY_TEXT if b else b))
    thread = threading.Thread(target=client)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive() and "POST /v1/chat/completions" in
                    dialog.log.toPlainText(), timeout=60000)
    assert result == {"model": Path(window.model_info.path).stem, "finish": "length"}
    qtbot.waitUntil(lambda: busy == [True, False], timeout=5000)  # the status bar said so
    assert window.statusBar().currentMessage() == ""
    assert re.search(r"POST /v1/chat/completions  200 tiny-gpt-oss\S*  \d+\.\d\d s",
                     dialog.log.toPlainText())
    assert "fs-window-key" not in dialog.log.toPlainText()
    dialog.grab().save(str(Path(window.paths.data) / "api-dialog.png"))

    dialog.toggle.setChecked(False)
    assert dialog.address.text() == "" and not dialog.copy.isEnabled()
    with openai.OpenAI(base_url=url, api_key="fs-window-key", max_retries=0, timeout=5) as c, \
            pytest.raises(openai.APIConnectionError):
        c.models.list()


def test_the_toggle_is_off_and_says_why_when_the_policy_forbids_it(qtbot, make_window, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "policy.json").write_text('{"local_api_server_allowed": false}')
    from tests.helpers.stubs import ScriptedEngine

    window = make_window(ScriptedEngine())
    dialog = window.api_server.open_dialog(window)
    assert not dialog.toggle.isEnabled()
    assert "local_api_server_allowed" in dialog.status.text()


def test_a_stored_response_appears_in_the_sidebar_and_opens_with_its_reasoning(  # type: ignore[no-untyped-def]
        qtbot, served_window):
    window = served_window
    dialog = window.api_server.open_dialog(window)
    dialog.toggle.setChecked(True)
    url = dialog.address.text()
    result: dict[str, str] = {}

    def client() -> None:
        with openai.OpenAI(base_url=url, api_key="fs-window-key", max_retries=0, timeout=60) as c:
            r = c.responses.create(model="", input="Name a lighthouse.", max_output_tokens=24,
                                   temperature=0, reasoning={"effort": "low"})
            result["id"], result["text"] = r.id, r.output_text
            result["reasoning"] = "".join(p.text for o in r.output if o.type == "reasoning"
                                          for p in (o.content or []))

    thread = threading.Thread(target=client)
    thread.start()
    sidebar = window.sidebar
    qtbot.waitUntil(lambda: not thread.is_alive() and sidebar.list.count() == 1, timeout=60000)
    item = sidebar.list.item(0)
    assert item.text() == "API · Name a lighthouse." and "local API server" in item.toolTip()
    sidebar.list.itemClicked.emit(item)
    model = window.chat_model
    assert model.item(0).text == "Name a lighthouse."
    reply = model.item(model.rowCount() - 1)
    assert (reply.text, reply.reasoning) == (result["text"], result["reasoning"])
    assert result["reasoning"] or result["text"]  # the tiny model wrote something
    dialog.toggle.setChecked(False)


def test_opening_the_window_leaves_the_server_stack_unloaded(tmp_path: Path) -> None:
    """Start-up cost: the API server's event-loop machinery (asyncio, uvicorn, Starlette) and the
    remote engine's and MCP's clients are imported when the user turns them on, not by every
    start of the window (asyncio alone was ~80 ms of it)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from fireside.ui.shell import app as gui_app\n"
        "from tests.helpers.stubs import ScriptedEngine\n"
        "window = gui_app.create_window(None, lambda: ScriptedEngine())\n"
        "window.show()\n"
        "for _ in range(20):\n"
        "    app.processEvents()\n"
        "print(type(window).__name__, ' '.join(m for m in ('asyncio', 'uvicorn', 'starlette', "
        "'openai', 'mcp', 'httpx') if m in sys.modules) or '-')\n"
        "window.close()\n"
    )
    env = {**os.environ, "FIRESIDE_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join([str(root / "app"), str(root)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MainWindow", "-"]
