"""Chat ▸ Tools…: real MCP servers over stdio (the SDK one and the protocol-alone one), the real
registry and tools.json, the dialog offscreen. Every registry call is off the GUI thread, so the
tests wait on the dialog's signals, and one proves the GUI thread keeps running while a server
hangs at start."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QTreeWidgetItem

from fireside.core.admin.policy import Policy
from fireside.core.config.paths import Paths
from fireside.core.tools.defaults import build_registry
from fireside.core.tools.registry import ToolRegistry
from fireside.core.tools.tool_state import ToolState
from fireside.ui.tools.tools_dialog import COL_ALWAYS, COL_NAME, COL_STATE, ToolsDialog
from tests.core.tools.conftest import RAW_SERVER, SDK_SERVER, make_paths, policy_of, stdio, write_mcp_json

RAW_TOOLS = ["crash", "reverse", "weird name/with.dots"]
MakeDialog = Callable[..., ToolsDialog]


@pytest.fixture
def home(tmp_path: Path) -> Paths:
    return make_paths(tmp_path / "home")


@pytest.fixture
def make_dialog(qtbot, home: Paths, tmp_path: Path) -> Iterator[MakeDialog]:  # type: ignore[no-untyped-def]
    dialogs: list[ToolsDialog] = []

    def make(servers: dict[str, Any] | None, policy: dict[str, Any] | None = None,
             connect_timeout: float = 30.0, wait: bool = True) -> ToolsDialog:
        if servers is not None:
            write_mcp_json(home, servers)
        pol = policy_of(tmp_path, policy)

        def registry() -> ToolRegistry:
            r = build_registry(home, pol)
            r.connect_timeout = connect_timeout
            return r

        dialog = ToolsDialog(home, pol, make_registry=registry)
        qtbot.addWidget(dialog)
        dialogs.append(dialog)
        if wait:
            with qtbot.waitSignal(dialog.connectFinished, timeout=60_000):
                pass
        return dialog

    yield make
    for dialog in dialogs:
        dialog.shutdown(wait=30)
        assert not dialog.service._quick_thread.is_alive()


def top(dialog: ToolsDialog) -> dict[str, QTreeWidgetItem]:
    t = dialog.tree
    return {t.topLevelItem(i).data(COL_NAME, Qt.ItemDataRole.UserRole)[-1]: t.topLevelItem(i)
            for i in range(t.topLevelItemCount())}


def children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [item.child(i) for i in range(item.childCount())]


def tool_rows(item: QTreeWidgetItem) -> dict[str, QTreeWidgetItem]:
    return {c.text(COL_NAME): c for c in children(item)
            if c.data(COL_NAME, Qt.ItemDataRole.UserRole)[0] == "tool"}


def notes(item: QTreeWidgetItem) -> list[str]:
    return [c.text(COL_NAME) for c in children(item)
            if c.data(COL_NAME, Qt.ItemDataRole.UserRole)[0] == "note"]


def fresh_names(home: Paths, policy: Policy) -> list[str]:
    with ToolRegistry(home, policy) as r:
        return [t.name for t in r.function_tools()]


def test_lists_the_python_tool_and_every_server_with_its_tools(make_dialog: MakeDialog, home: Paths):
    dialog = make_dialog({"raw": stdio(RAW_SERVER), "sdk": stdio(SDK_SERVER)})
    rows = top(dialog)
    assert list(rows) == ["python", "raw", "sdk"]
    assert rows["raw"].text(COL_NAME) == "raw  (stdio)"
    assert rows["raw"].text(COL_STATE) == "running · 3 tools"
    assert list(tool_rows(rows["raw"])) == RAW_TOOLS
    assert all(t.checkState(COL_NAME) == Qt.CheckState.Checked for t in tool_rows(rows["raw"]).values())
    assert rows["raw"].checkState(COL_NAME) == Qt.CheckState.Checked
    sdk_tools = tool_rows(rows["sdk"])
    assert rows["sdk"].text(COL_STATE).startswith("running · ") and len(sdk_tools) >= 2
    # the python tool: its isolation, line by line, as doctor says it
    python_notes = notes(rows["python"])
    assert any(n.startswith("Writes outside the work folder:") for n in python_notes)
    assert any(n.startswith("Network:") for n in python_notes)
    assert dialog.snapshot is not None
    assert rows["python"].text(COL_STATE) == ("on" if dialog.snapshot.isolation.enforced else "not available")
    assert str(home.config / "mcp.json") in dialog.config_label.text()
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == str(home.config / "mcp.json")
    assert not dialog.problems_label.isVisibleTo(dialog) and not dialog.policy_label.isVisibleTo(dialog)


def test_toggles_are_saved_for_every_registry(qtbot, make_dialog: MakeDialog, home: Paths,
                                              tmp_path: Path):
    policy = policy_of(tmp_path, None)
    with ToolRegistry(home, policy) as running:  # like the inference worker's, made before
        dialog = make_dialog({"raw": stdio(RAW_SERVER)})
        assert "raw__reverse" in [t.name for t in running.function_tools()]
        reverse = tool_rows(top(dialog)["raw"])["reverse"]
        with qtbot.waitSignal(dialog.snapshotShown, timeout=10_000,
                              check_params_cb=lambda: reverse.text(COL_STATE) == "off"):
            reverse.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
        assert tool_rows(top(dialog)["raw"])["reverse"].text(COL_STATE) == "off"
        assert fresh_names(home, policy) == ["raw__crash", "raw__weird_name_with_dots"]
        assert "raw__reverse" not in [t.name for t in running.function_tools()]

        server = top(dialog)["raw"]
        with qtbot.waitSignal(dialog.snapshotShown, timeout=20_000,
                              check_params_cb=lambda: top(dialog)["raw"].text(COL_STATE).startswith("off")):
            server.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
        assert fresh_names(home, policy) == []
        assert running.function_tools() == ()
        greyed = tool_rows(top(dialog)["raw"])["crash"]
        assert greyed.text(COL_STATE) == "server is off"
        assert not greyed.flags() & Qt.ItemFlag.ItemIsUserCheckable

        with qtbot.waitSignal(dialog.connectFinished, timeout=30_000):
            top(dialog)["raw"].setCheckState(COL_NAME, Qt.CheckState.Checked)
        assert top(dialog)["raw"].text(COL_STATE) == "running · 3 tools"
        assert fresh_names(home, policy) == ["raw__crash", "raw__weird_name_with_dots"]


def test_always_allow_is_shown_and_can_be_revoked(qtbot, make_dialog: MakeDialog, home: Paths,
                                                  tmp_path: Path):
    ToolState(home.config / "tools.json").set_always_allow("raw", "reverse", True)
    dialog = make_dialog({"raw": stdio(RAW_SERVER)})
    reverse = tool_rows(top(dialog)["raw"])["reverse"]
    assert reverse.checkState(COL_ALWAYS) == Qt.CheckState.Checked
    assert reverse.text(COL_ALWAYS) == "Always allowed"
    assert tool_rows(top(dialog)["raw"])["crash"].checkState(COL_ALWAYS) == Qt.CheckState.Unchecked
    with qtbot.waitSignal(dialog.snapshotShown, timeout=10_000):
        reverse.setCheckState(COL_ALWAYS, Qt.CheckState.Unchecked)
    with ToolRegistry(home, policy_of(tmp_path, None)) as fresh:
        assert not fresh.always_allowed("raw__reverse")
    assert tool_rows(top(dialog)["raw"])["reverse"].text(COL_ALWAYS) == ""


def test_a_server_that_fails_shows_why(make_dialog: MakeDialog):
    dialog = make_dialog({"gone": {"command": "fireside-no-such-program"}, "raw": stdio(RAW_SERVER)})
    gone = top(dialog)["gone"]
    assert gone.text(COL_STATE) == "failed"
    assert len(notes(gone)) == 1 and "fireside-no-such-program was not found" in notes(gone)[0]
    assert top(dialog)["raw"].text(COL_STATE) == "running · 3 tools"


def test_a_server_that_hangs_never_blocks_the_dialog(qtbot, make_dialog: MakeDialog):
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    t0 = time.monotonic()
    dialog = make_dialog({"mute": stdio(RAW_SERVER, "--mute"), "raw": stdio(RAW_SERVER)},
                         connect_timeout=3, wait=False)
    assert time.monotonic() - t0 < 1.0  # building it started nothing on this thread
    qtbot.waitUntil(lambda: "mute" in top(dialog) and top(dialog)["mute"].text(COL_STATE) == "starting…",
                    timeout=10_000)
    assert dialog.status_label.text() == "Connecting to MCP servers…"
    assert not dialog.refresh_button.isEnabled()
    with qtbot.waitSignal(dialog.connectFinished, timeout=60_000):
        pass
    timer.stop()
    mute = top(dialog)["mute"]
    assert mute.text(COL_STATE) == "failed"
    assert notes(mute) == ["MCP server 'mute' did not start within 3 s."]
    assert top(dialog)["raw"].text(COL_STATE) == "running · 3 tools"
    assert ticks[-1] - ticks[0] > 2.5  # the hang lasted the 3 s timeout...
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.5, max(gaps)  # ...and the GUI thread never stopped for it

    # Refresh retries it at once (a listing alone waits a minute before retrying a failed server)
    dialog.refresh_button.click()
    qtbot.waitUntil(lambda: top(dialog)["mute"].text(COL_STATE) == "starting…", timeout=10_000)
    with qtbot.waitSignal(dialog.connectFinished, timeout=60_000):
        pass
    assert top(dialog)["mute"].text(COL_STATE) == "failed"


def test_closing_while_a_server_hangs_returns_at_once(qtbot, make_dialog: MakeDialog):
    dialog = make_dialog({"mute": stdio(RAW_SERVER, "--mute")}, connect_timeout=20, wait=False)
    qtbot.waitUntil(lambda: "mute" in top(dialog) and top(dialog)["mute"].text(COL_STATE) == "starting…",
                    timeout=10_000)
    t0 = time.monotonic()
    dialog.close_button.click()
    assert time.monotonic() - t0 < 0.5
    assert not dialog.isVisible()


def test_what_policy_forbids_is_greyed_with_the_reason(make_dialog: MakeDialog):
    dialog = make_dialog({"raw": stdio(RAW_SERVER), "other": stdio(RAW_SERVER, "--other")},
                         policy={"mcp_servers": "listed", "allowed_mcp_servers": ["raw"],
                                 "python_tool_allowed": False, "tool_auto_approval_allowed": False})
    rows = top(dialog)
    other = rows["other"]
    assert other.text(COL_STATE) == "blocked by your organisation"
    assert other.data(COL_NAME, Qt.ItemDataRole.CheckStateRole) is None  # no switch to flip
    assert not other.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert notes(other)[0].startswith("Managed by your organisation: ")
    assert "(mcp_servers," in notes(other)[0] or "allowed_mcp_servers" in notes(other)[0]
    assert rows["python"].text(COL_STATE) == "blocked by your organisation"
    assert any("(python_tool_allowed," in n for n in notes(rows["python"]))
    reverse = tool_rows(rows["raw"])["reverse"]
    assert reverse.text(COL_ALWAYS) == "Not permitted"
    assert "(tool_auto_approval_allowed," in reverse.toolTip(COL_ALWAYS)
    assert reverse.data(COL_ALWAYS, Qt.ItemDataRole.CheckStateRole) is None


def test_tools_off_by_policy_is_said_above_the_list(make_dialog: MakeDialog):
    dialog = make_dialog({"raw": stdio(RAW_SERVER)}, policy={"tools_allowed": False})
    assert dialog.policy_label.isVisibleTo(dialog)
    assert "(tools_allowed," in dialog.policy_label.text()
    assert top(dialog)["raw"].text(COL_STATE) == "blocked by your organisation"


def test_a_malformed_mcp_json_is_explained(make_dialog: MakeDialog, home: Paths):
    home.config.mkdir(parents=True)
    (home.config / "mcp.json").write_text('{"mcpServers": {"a": {"args": []}, ', encoding="utf-8")
    dialog = make_dialog(None)
    assert dialog.problems_label.isVisibleTo(dialog)
    assert "not valid JSON" in dialog.problems_label.text()
    assert list(top(dialog)) == ["python"]


def test_chat_menu_opens_the_tools_dialog(qtbot, window, paths: Paths,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch):
    opened: list[ToolsDialog] = []
    monkeypatch.setattr(ToolsDialog, "open", lambda self: opened.append(self))  # offscreen: not shown
    action = window.actions_.tools
    assert action in window.actions_.chat_menu.actions()
    action.trigger()
    (dialog,) = opened
    assert dialog.parent() is window and dialog.testAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    with qtbot.waitSignal(dialog.connectFinished, timeout=30_000):
        pass
    assert list(top(dialog)) == ["python"]
    assert "No MCP servers yet" in dialog.config_label.text()
    assert str(paths.config / "mcp.json") in dialog.config_label.text()
    dialog.close_button.click()
    dialog.service._quick_thread.join(10)
    assert not dialog.service._quick_thread.is_alive()


def test_open_folder_falls_back_to_copying_the_path(make_dialog: MakeDialog, home: Paths,
                                                     monkeypatch: pytest.MonkeyPatch):
    from PySide6.QtGui import QDesktopServices

    asked: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: asked.append(url.toLocalFile()) or False)
    dialog = make_dialog(None)
    dialog.open_folder_button.click()
    assert asked == [str(home.config)]
    assert QGuiApplication.clipboard().text() == str(home.config / "mcp.json")
    assert "Couldn't open" in dialog.status_label.text()


def test_a_second_pass_asked_for_while_one_hangs_keeps_the_dialog_connecting(
        qtbot, make_dialog: MakeDialog):
    dialog = make_dialog({"mute": stdio(RAW_SERVER, "--mute"), "raw": stdio(RAW_SERVER)},
                         connect_timeout=3, wait=False)
    qtbot.waitUntil(lambda: "raw" in top(dialog) and top(dialog)["mute"].text(COL_STATE) == "starting…",
                    timeout=10_000)
    assert top(dialog)["raw"].text(COL_STATE) == "waiting to start…"
    dialog._connect(refresh=True)  # as switching a server on does, while the first pass hangs
    with qtbot.waitSignal(dialog.service.connected, timeout=30_000):
        pass
    assert dialog.service.connecting and not dialog.refresh_button.isEnabled()
    assert dialog.status_label.text() == "Connecting to MCP servers…"
    with qtbot.waitSignal(dialog.connectFinished, timeout=60_000):
        pass
    assert not dialog.service.connecting and dialog.refresh_button.isEnabled()
    assert top(dialog)["mute"].text(COL_STATE) == "failed"
    assert dialog.status_label.text() == "MCP servers: 1 running, 1 failed (the reason is under each one)."
