"""Screenshots of Chat ▸ Tools… in a real X window, to look at them as a user would.

    Xvfb :97 -screen 0 1400x900x24 &
    DISPLAY=:97 .venv/bin/python scripts/tools_dialog_screens.py OUTDIR

Everything is real: the registry, tools.json, MCP servers over stdio (tests/core/tools/
raw_server.py and sdk_server.py), one that is not installed, one that hangs at start, one
HTTP URL nobody listens on. Saves:
  tools-menu.png       the Chat menu with Tools…
  tools-starting.png   the dialog while a server hangs at start ("starting…")
  tools-overview.png   every server's state, a failure's reason, the python tool's isolation
  tools-toggled.png    a tool off, a server off, a tool always allowed
  tools-policy.png     what the organisation's policy blocks, greyed with its reason
  tools-problems.png   a malformed mcp.json explained
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "app"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from PySide6.QtCore import QEventLoop, QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QTreeWidgetItem  # noqa: E402
from shots import shot  # noqa: E402
from tests.helpers.stubs import ScriptedEngine  # noqa: E402

from fireside.core.admin.policy import Policy, _read_json, load_policy  # noqa: E402
from fireside.core.config.paths import Paths, app_paths  # noqa: E402
from fireside.core.tools.defaults import build_registry  # noqa: E402
from fireside.core.tools.registry import ToolRegistry  # noqa: E402
from fireside.ui.shell.app import application  # noqa: E402
from fireside.ui.shell.main_window import MainWindow  # noqa: E402
from fireside.ui.tools.tools_dialog import COL_ALWAYS, COL_NAME, COL_STATE, ToolsDialog  # noqa: E402

SERVERS = ROOT / "tests" / "core" / "tools"


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(ok: Callable[[], bool], timeout_s: float = 90) -> None:
    t0 = time.monotonic()
    while not ok():
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"timed out waiting at line {sys._getframe(1).f_lineno}")
        settle(50)


def row(dialog: ToolsDialog, *names: str) -> QTreeWidgetItem | None:
    tree = dialog.tree
    item = next((tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                 if tree.topLevelItem(i).data(COL_NAME, Qt.ItemDataRole.UserRole)[-1] == names[0]), None)
    for name in names[1:]:
        if item is None:
            return None
        item = next((item.child(i) for i in range(item.childCount())
                     if item.child(i).text(COL_NAME) == name), None)
    return item


def state(dialog: ToolsDialog, *names: str) -> str:
    item = row(dialog, *names)
    return item.text(COL_STATE) if item is not None else ""


def dialog_for(window: MainWindow, paths: Paths, policy: Policy, timeout: float = 15) -> ToolsDialog:
    def make() -> ToolRegistry:
        r = build_registry(paths, policy)
        r.connect_timeout = timeout  # the app waits 30 s for a server; the screenshots need not
        return r

    dialog = ToolsDialog(paths, policy, window, make_registry=make)
    dialog.open()
    dialog.move(window.x() + 180, window.y() + 90)
    return dialog


def policy_file(folder: Path, data: dict[str, object]) -> Policy:
    p = folder / "policy.json"
    p.write_text(json.dumps(data), encoding="utf-8")
    return load_policy([(str(p), lambda: _read_json(p))])


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screens").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY"):
        print("Needs an X display: Xvfb :97 -screen 0 1400x900x24 & DISPLAY=:97 …", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="fireside-tools-screens-"))
    os.environ["FIRESIDE_HOME"] = str(home)
    app = application()
    app.setStyle("Fusion")
    paths = app_paths()
    paths.config.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    (paths.config / "mcp.json").write_text(json.dumps({"mcpServers": {
        "files": {"command": py, "args": [str(SERVERS / "sdk_server.py")]},
        "text": {"command": py, "args": [str(SERVERS / "raw_server.py")]},
        "weather": {"command": "weather-mcp-server", "args": ["--units", "metric"]},
        "slow": {"command": py, "args": [str(SERVERS / "raw_server.py"), "--mute"]},
        "search": {"url": "http://127.0.0.1:9/mcp"},
    }}, indent=2))
    engine = ScriptedEngine()
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths)
    window.setGeometry(0, 0, 1400, 900)
    window.show()
    settle(800)

    menu = window.actions_.chat_menu
    menu.popup(window.mapToGlobal(QPoint(60, window.menuBar().height())))
    settle()
    menu.setActiveAction(window.actions_.tools)
    shot(window, out / "tools-menu.png")
    menu.close()

    no_policy = load_policy([])
    dialog = dialog_for(window, paths, no_policy)
    wait_until(lambda: state(dialog, "slow") == "starting…")
    settle()
    shot(dialog, out / "tools-starting.png")
    wait_until(lambda: dialog.refresh_button.isEnabled() and state(dialog, "slow") == "failed")
    weather = row(dialog, "weather")
    assert weather is not None
    dialog.tree.setCurrentItem(weather)
    settle()
    shot(dialog, out / "tools-overview.png")

    crash = row(dialog, "text", "crash")
    assert crash is not None
    crash.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
    wait_until(lambda: state(dialog, "text", "crash") == "off")
    reverse = row(dialog, "text", "reverse")
    assert reverse is not None
    reverse.setCheckState(COL_ALWAYS, Qt.CheckState.Checked)
    wait_until(lambda: (r := row(dialog, "text", "reverse")) is not None and r.text(COL_ALWAYS) != "")
    files = row(dialog, "files")
    assert files is not None
    files.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
    wait_until(lambda: state(dialog, "files").startswith("off"))
    current = row(dialog, "text", "reverse")
    assert current is not None
    dialog.tree.setCurrentItem(current)
    settle()
    shot(dialog, out / "tools-toggled.png")
    dialog.close_button.click()
    settle()

    policy = policy_file(home, {"mcp_servers": "listed", "allowed_mcp_servers": ["text", "files"],
                                "python_tool_allowed": False, "tool_auto_approval_allowed": False})
    dialog = dialog_for(window, paths, policy)
    wait_until(lambda: dialog.refresh_button.isEnabled() and state(dialog, "weather") != "")
    blocked = row(dialog, "weather")
    assert blocked is not None
    dialog.tree.setCurrentItem(blocked)
    settle()
    shot(dialog, out / "tools-policy.png")
    dialog.close_button.click()
    settle()

    (paths.config / "mcp.json").write_text(json.dumps({"mcpServers": {  # "notes" has nothing to run
        "text": {"command": py, "args": [str(SERVERS / "raw_server.py")]}, "notes": {"args": ["x"]}}}))
    dialog = dialog_for(window, paths, no_policy)
    wait_until(lambda: dialog.refresh_button.isEnabled() and dialog.snapshot is not None)
    settle()
    shot(dialog, out / "tools-problems.png")
    dialog.close_button.click()
    dialog.shutdown(wait=20)
    window.close()
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
