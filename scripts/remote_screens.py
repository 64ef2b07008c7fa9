"""Screenshots of remote engines in a real X window, to look at them as a user would.

    Xvfb :96 -screen 0 1400x900x24 &
    DISPLAY=:96 .venv/bin/python scripts/remote_screens.py OUTDIR

The remote end is a real HTTP server on 127.0.0.1 speaking the OpenAI Responses API
(tests/helpers/openai_peer.py) that wants an API key; the key sits in a file-backed test keyring
(tests/helpers/file_keyring.py), never in remotes.json. The local model is the scripted engine.
Saves:
  remotes-dialog.png        File ▸ Remote Models… after Test listed foundry's models
  add-connection.png        the Add form, key masked
  test-unreachable.png      Test on a connection whose server is down
  remote-conversation.png   a conversation on foundry's gpt-oss-120b, reasoning panel open
  failed-connection.png     Use on a connection with a wrong key: banner, local model kept
  remotes-offline.png       the dialog in offline mode: every connection greyed, with the reason
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "app"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import keyring  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from shots import wait_for  # noqa: E402
from tests.helpers.file_keyring import FileKeyring  # noqa: E402
from tests.helpers.openai_peer import OpenAIPeer, responses_events  # noqa: E402
from tests.helpers.stubs import ScriptedEngine  # noqa: E402

from fireside.core.config.paths import app_paths  # noqa: E402
from fireside.core.config.secrets import TokenStore, remote_key_user  # noqa: E402
from fireside.core.config.settings import Settings, save_settings  # noqa: E402
from fireside.core.engine.remotes import Connection, Remotes  # noqa: E402
from fireside.ui.remotes.add_dialog import AddRemoteDialog  # noqa: E402
from fireside.ui.remotes.remotes_dialog import RemotesDialog  # noqa: E402
from fireside.ui.remotes.target import RemoteTarget  # noqa: E402
from fireside.ui.shell.app import application  # noqa: E402
from fireside.ui.shell.main_window import MainWindow  # noqa: E402

MODEL = "/models/gpt-oss-20b-mxfp4.gguf"
KEY = "sk-foundry-demo-7c2e"
REASONING = ["The user asks why a big model might reason differently. ",
             "gpt-oss-120b has more experts per layer and more layers, ",
             "so it can keep more facts in play; ", "I should mention the trade-off: latency ",
             "over the network versus quality."]
ANSWER = ["A larger model such as **gpt-oss-120b** ", "has more capacity: more layers and more ",
          "experts per layer, so it tends to follow long instructions better and make fewer ",
          "factual slips.\n\n", "The trade-off is that each reply now travels over the network, ",
          "so the first token takes a little longer than on this computer."]


def settle(ms: int = 500) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot(out: Path, name: str) -> None:
    settle()
    subprocess.run(["import", "-window", "root", str(out / name)], check=True)
    print(f"saved {out / name}", flush=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screens").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY"):
        print("Needs an X display: Xvfb :96 -screen 0 1400x900x24 & DISPLAY=:96 …", file=sys.stderr)
        return 2
    home = tempfile.mkdtemp(prefix="fireside-screens-")
    os.environ["FIRESIDE_HOME"] = home
    os.environ["FIRESIDE_TEST_KEYRING"] = str(Path(home) / "keyring.json")
    keyring.set_keyring(FileKeyring())
    app = application()
    app.setStyle("Fusion")
    paths = app_paths()
    with OpenAIPeer(models=("gpt-oss-120b", "gpt-oss-20b"), responses_api=True,
                    api_key=KEY) as peer:
        peer.default.events = responses_events(REASONING, ANSWER)
        remotes = Remotes(paths.config)
        remotes.put(Connection("foundry", peer.url, "gpt-oss-120b"))
        remotes.put(Connection("lab-vllm", f"http://127.0.0.1:{closed_port()}/v1", "gpt-oss-120b"))
        remotes.put(Connection("old-key", peer.url, "gpt-oss-120b"))
        for name, key in (("foundry", KEY), ("old-key", "sk-revoked")):
            TokenStore(keyring.get_keyring(), keyring_allowed=True,
                       user=remote_key_user(name)).set(key)

        engine = ScriptedEngine()
        window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths)
        window.setGeometry(0, 0, 1400, 900)
        window.show()
        window.load_model(MODEL)
        wait_for(window.modelLoaded)
        window.send_message("Hello! Which model are you?")
        wait_for(window.replyFinished)

        dialog = RemotesDialog(paths, window.policy, window, use=window.load_remote)
        dialog.show()
        dialog.move(290, 160)
        dialog.refresh(select="foundry")
        dialog.test_selected()
        wait_for(dialog.testFinished)
        shoot(out, "remotes-dialog.png")

        dialog.refresh(select="lab-vllm")
        dialog.test_selected()
        wait_for(dialog.testFinished, 30_000)
        shoot(out, "test-unreachable.png")

        form = AddRemoteDialog(paths, window.policy, None, dialog)
        form.name_edit.setText("azure")
        form.url_edit.setText("https://contoso.openai.azure.com/openai/v1")
        form.model_edit.setText("gpt-oss-120b")
        form.key_edit.setText("sk-not-shown")
        form.show()
        form.move(440, 260)
        shoot(out, "add-connection.png")
        form.reject()

        dialog.refresh(select="foundry")
        dialog.use_selected()  # closes the dialog, loads on the worker
        wait_for(window.modelLoaded)
        window.send_message("Why would a bigger model answer differently?")
        wait_for(window.replyFinished)
        window.select_row(window.chat_model.rowCount() - 1)
        shoot(out, "remote-conversation.png")

        window.load_model(MODEL)
        wait_for(window.modelLoaded)
        window.load_remote(RemoteTarget("old-key"))
        wait_for(window.modelLoadFailed)
        shoot(out, "failed-connection.png")

        save_settings(Settings(offline=True), paths.settings_file)
        offline = RemotesDialog(paths, window.policy, window, use=window.load_remote)
        offline.show()
        offline.move(290, 160)
        shoot(out, "remotes-offline.png")
        offline.close()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
