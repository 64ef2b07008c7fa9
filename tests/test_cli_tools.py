"""`fireside tools list|call`: the contract scripts and admins rely on (exit codes, one-line errors)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fireside.core.tools.isolation import isolation_report
from tests.core.tools.conftest import RAW_SERVER, SDK_SERVER, stdio

MAIN = "from fireside.cli import main; raise SystemExit(main())"

# The python tool runs wherever its sandbox can be enforced (Landlock and seccomp on Linux).
PYTHON_STATE = "on" if isolation_report().enforced else "not available"


def fireside(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True, text=True,
                          timeout=180, env=env, input=stdin)


def _config(home: Path, servers: dict[str, Any] | str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    text = servers if isinstance(servers, str) else json.dumps({"mcpServers": servers})
    (home / "config" / "mcp.json").write_text(text, encoding="utf-8")


def _one_line(r: subprocess.CompletedProcess[str], code: int) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1 and lines[0].startswith("fireside: "), r.stderr
    return lines[0]


SERVERS = {"demo": stdio(SDK_SERVER), "raw": stdio(RAW_SERVER)}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The servers' tool lists, listed once, so each test starts only the server it calls."""
    from fireside.core.admin.policy import load_policy
    from fireside.core.tools.registry import ToolRegistry
    from tests.core.tools.conftest import make_paths, write_mcp_json

    paths = make_paths(tmp_path_factory.mktemp("warm"))
    write_mcp_json(paths, SERVERS)
    with ToolRegistry(paths, load_policy([])) as registry:
        assert len(registry.function_tools()) == 9
    return paths.cache / "mcp-tools"


@pytest.fixture
def home(fireside_home: Path, warm_cache: Path) -> Path:
    _config(fireside_home, SERVERS)
    shutil.copytree(warm_cache, fireside_home / "cache" / "mcp-tools")
    return fireside_home


def test_tools_list_json_shows_python_and_every_server_tool_with_state(fireside_home: Path):
    home = fireside_home
    _config(home, SERVERS)  # no cached lists: listing starts both servers
    r = fireside("tools", "list", "--json", home=home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    tools = {t["name"]: t for t in data["tools"]}
    assert tools["python"]["state"] == PYTHON_STATE and tools["python"]["server"] is None
    assert tools["demo__add"]["server"] == "demo" and tools["demo__add"]["tool"] == "add"
    assert tools["demo__add"]["state"] == "on"
    assert tools["demo__add"]["parameters"]["required"] == ["a", "b"]
    assert tools["raw__weird_name_with_dots"]["tool"] == "weird name/with.dots"
    assert [(s["name"], s["transport"]) for s in data["servers"]] == [("demo", "stdio"), ("raw", "stdio")]
    assert data["config"] == str(home / "config" / "mcp.json") and data["problems"] == []
    text = fireside("tools", "list", home=home)  # from the cached lists now: nothing started
    assert text.returncode == 0
    assert "MCP server demo  [not started]" in text.stdout and "  demo__echo  Repeat the text." in text.stdout


def test_tools_call_prints_the_output(home: Path):
    r = fireside("tools", "call", "demo__add", '{"a": 20, "b": 22}', home=home)
    assert (r.returncode, r.stdout, r.stderr) == (0, "42\n", "")
    r = fireside("tools", "call", "functions.raw__reverse", '{"text": "abc"}', "--json", home=home)
    assert json.loads(r.stdout)["output"] == "cba" and json.loads(r.stdout)["error"] is False


def test_tools_call_failures_exit_1_with_one_line(home: Path):
    line = _one_line(fireside("tools", "call", "demo__hang", "--timeout", "1", home=home), 1)
    assert line == "fireside: demo__hang: MCP server 'demo' did not answer within 1 s while running 'hang'."
    line = _one_line(fireside("tools", "call", "raw__crash", home=home), 1)
    assert "stopped while running 'crash'" in line
    line = _one_line(fireside("tools", "call", "python", "1 / 0", home=home), 1)
    assert line == "fireside: python: ZeroDivisionError: division by zero"


def test_tools_call_of_a_server_that_cannot_start_exits_1(fireside_home: Path):
    _config(fireside_home, {"gone": {"command": "fireside-no-such-program"}})
    line = _one_line(fireside("tools", "call", "gone__x", "{}", home=fireside_home), 1)
    assert "fireside-no-such-program was not found" in line


@pytest.mark.parametrize(("args", "expected"), [
    (("demo__add", '{"a": 1,'), "are not valid JSON"),
    (("demo__add", "[1]"), "must be a JSON object"),
    (("nope",), "There is no tool named 'nope'"),
    (("demo__add", "{}", "--timeout", "0"), "--timeout must be a number of seconds above 0"),
    (("demo__add", "{}", "--timeout", "soon"), "invalid float value"),
])
def test_tools_call_bad_input_exits_2(home: Path, args: tuple[str, ...], expected: str):
    assert expected in _one_line(fireside("tools", "call", *args, home=home), 2)


def test_tools_call_refused_by_policy_exits_2(home: Path, tmp_path: Path):
    (tmp_path / "policy.json").write_text(json.dumps({"mcp_servers": "off"}), encoding="utf-8")
    line = _one_line(fireside("tools", "call", "demo__add", '{"a": 1, "b": 2}', home=home), 2)
    assert "MCP servers are turned off by your organisation's policy (mcp_servers" in line


def test_a_malformed_mcp_json_is_one_line_and_python_is_still_listed(fireside_home: Path):
    _config(fireside_home, '{"mcpServers": {"x": {"command": 5}}, ')
    r = fireside("tools", "list", home=fireside_home)
    assert r.returncode == 0
    assert "is not valid JSON (line 1" in _one_line(r, 0)
    assert r.stdout.startswith(f"python  [{PYTHON_STATE}]") and "Traceback" not in r.stderr
    r = fireside("tools", "call", "x__y", "{}", home=fireside_home)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_doctor_reports_tools_policy_and_servers_without_starting_them(home: Path, tmp_path: Path):
    (tmp_path / "policy.json").write_text(json.dumps(
        {"mcp_servers": "listed", "allowed_mcp_servers": ["raw"], "tool_auto_approval_allowed": False}),
        encoding="utf-8")
    r = fireside("doctor", "--json", home=home)
    tools = json.loads(r.stdout)["tools"]
    assert tools["tools_allowed"] is True and tools["mcp_servers"] == "listed"
    assert tools["allowed_mcp_servers"] == ["raw"] and tools["auto_approval_allowed"] is False
    servers = {s["name"]: s for s in tools["servers"]}
    assert servers["demo"]["state"] == "blocked by policy"
    assert "allowed_mcp_servers" in servers["demo"]["policy"]
    assert servers["raw"]["state"] == "not started"  # doctor starts nothing
    assert tools["python"]["state"] == PYTHON_STATE
    text = fireside("doctor", home=home).stdout
    assert "Tools: allowed; MCP servers allowed: only raw; always-allow: forbidden by policy" in text
    assert "    demo: blocked by policy, stdio" in text
