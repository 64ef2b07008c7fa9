"""tools.json read by two ToolStates at once (the window's Tools dialog and the inference worker's
registry): a change written by one is what the other reads next; a damaged file reads as defaults."""

from __future__ import annotations

from pathlib import Path

from fireside.core.admin.policy import load_policy
from fireside.core.tools.registry import ToolRegistry
from fireside.core.tools.tool_state import ToolState
from tests.core.tools.conftest import RAW_SERVER, make_paths, stdio, write_mcp_json


def test_a_change_made_by_another_tool_state_is_read_next(tmp_path: Path):
    path = tmp_path / "tools.json"
    worker, dialog = ToolState(path), ToolState(path)
    assert worker.tool_enabled("raw", "reverse") and worker.python_enabled()
    dialog.set_tool_enabled("raw", "reverse", False)
    assert not worker.tool_enabled("raw", "reverse")
    dialog.set_python_enabled(False)
    dialog.set_always_allow("raw", "crash", True)
    assert not worker.python_enabled() and worker.always_allowed("raw", "crash")
    worker.set_server_enabled("raw", False)  # the worker's own write keeps the dialog's changes
    assert not dialog.server_enabled("raw") and not dialog.tool_enabled("raw", "reverse")
    assert not dialog.python_enabled()
    path.write_text("{broken", encoding="utf-8")
    assert worker.server_enabled("raw") and worker.problem
    dialog.set_tool_enabled("raw", "reverse", True)  # replaces the damaged file
    assert worker.tool_enabled("raw", "reverse") and not worker.problem


def test_refresh_lists_a_running_server_again(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([])) as registry:
        assert len(registry.function_tools()) == 3
        registry.set_server_enabled("raw", False)  # stops it; its list stays in memory
        registry.set_server_enabled("raw", True)
        assert registry.servers()[0].state == "stopped"
        registry.entries(start=True)
        assert registry.servers()[0].state == "stopped"  # a listing alone starts nothing it knows
        registry.entries(start=True, refresh=True)
        assert registry.servers()[0].state == "running"
