"""The admin policy applied by the registry: tools off, python off, MCP servers off/listed/any,
no auto-approval, offline; and the python tool plugged in through its small protocol."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fireside.core.tools.registry import MAX_OUTPUT_CHARS, ToolRegistry
from tests.core.tools.conftest import RAW_SERVER, make_paths, policy_of, stdio, write_mcp_json

RAW_LINE = f"{sys.executable} {RAW_SERVER}"


@dataclass(frozen=True)
class Outcome:
    output: str
    error: bool | str = False
    duration_s: float = 0.01


class EchoPython:
    """Stands in for the sandbox in the policy tests (the real one is tested in test_python_tool
    and through the conversation service in tests/core/chat/test_tool_loop.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []
        self.closed = False

    def close_all(self) -> None:
        self.closed = True

    def run(self, conversation_id: str, code: str, timeout: float | None = None) -> Outcome:
        self.calls.append((code, timeout))
        if code == "boom":
            return Outcome("", "Traceback: ZeroDivisionError")
        return Outcome(code * 2)


def registry(tmp_path: Path, policy: dict[str, Any] | None, servers: dict[str, Any] | None = None,
             python: EchoPython | None = None) -> ToolRegistry:
    paths = make_paths(tmp_path / "home")
    write_mcp_json(paths, servers if servers is not None else {"raw": stdio(RAW_SERVER)})
    return ToolRegistry(paths, policy_of(tmp_path, policy), python)


def test_no_policy_allows_everything(tmp_path: Path):
    with registry(tmp_path, None, python=EchoPython()) as r:
        assert r.python_refusal() == ""
        assert len(r.function_tools()) == 3
        assert r.set_always_allow("raw__reverse", True) == "" and r.always_allowed("raw__reverse")


def test_tools_allowed_false_blocks_every_tool_without_starting_servers(tmp_path: Path):
    python = EchoPython()
    with registry(tmp_path, {"tools_allowed": False, "mcp_servers": "any",
                             "python_tool_allowed": True}, python=python) as r:
        assert r.function_tools() == ()
        assert r.servers()[0].state == "blocked by policy"
        for name, args in (("raw__reverse", "{}"), ("python", "print(1)")):
            result = r.call(name, args)
            assert result.error and "turned off by your organisation's policy (tools_allowed" in result.output
        assert python.calls == []
        assert {e.state for e in r.entries()} == {"blocked by policy"}


def test_mcp_servers_off(tmp_path: Path):
    with registry(tmp_path, {"mcp_servers": "off"}) as r:
        assert r.function_tools() == ()
        status = r.servers()[0]
        assert status.state == "blocked by policy" and "(mcp_servers," in status.error
        result = r.call("raw__reverse", '{"text": "a"}')
        assert result.error and "cannot be used" in result.output and "(mcp_servers," in result.output


@pytest.mark.parametrize(("allowed", "runs"), [
    (["raw"], True),  # its name in mcp.json
    ([RAW_LINE], True),  # its whole command line
    ([sys.executable], True),  # its command
    (["other", f"{sys.executable} other.py"], False),
    ([], False),
])
def test_mcp_servers_listed(tmp_path: Path, allowed: list[str], runs: bool):
    policy: dict[str, Any] = {"mcp_servers": "listed"}
    if allowed:
        policy["allowed_mcp_servers"] = allowed
    with registry(tmp_path, policy) as r:
        assert bool(r.function_tools()) is runs
        if not runs:
            assert "not on your organisation's list of allowed servers" in r.servers()[0].error


def test_listed_urls_and_offline_only(tmp_path: Path):
    servers = {"near": {"url": "http://127.0.0.1:9/mcp"}, "far": {"url": "https://mcp.example.org/mcp/"}}
    with registry(tmp_path, {"mcp_servers": "listed",
                             "allowed_mcp_servers": ["https://mcp.example.org/mcp"]}, servers) as r:
        refusals = {s.name: r.server_refusal(s) for s in r.config.servers}
        assert "not on your organisation's list" in refusals["near"] and refusals["far"] == ""
    with registry(tmp_path, {"offline_only": True}, servers) as r:
        refusals = {s.name: r.server_refusal(s) for s in r.config.servers}
        assert refusals["near"] == "" and "keeps Fireside offline (offline_only" in refusals["far"]


def test_python_tool_allowed_false(tmp_path: Path):
    python = EchoPython()
    with registry(tmp_path, {"python_tool_allowed": False}, python=python) as r:
        assert "(python_tool_allowed," in r.python_refusal()
        assert r.entries(start=False)[0].state == "blocked by policy"
        assert r.call("python", "1").error and python.calls == []
        assert len(r.function_tools()) == 3  # MCP tools are unaffected


def test_auto_approval_forbidden(tmp_path: Path):
    paths_policy = {"tool_auto_approval_allowed": False}
    with registry(tmp_path, None) as r:  # the user chose "always allow" before the policy came
        r.function_tools()
        assert r.set_always_allow("raw__reverse", True) == ""
    with registry(tmp_path, paths_policy) as r:
        r.function_tools()
        assert not r.always_allowed("raw__reverse")
        refusal = r.set_always_allow("raw__crash", True)
        assert "(tool_auto_approval_allowed," in refusal
        assert not any(e.always_allow for e in r.entries())
        assert r.set_always_allow("raw__reverse", False) == ""  # taking it back is always fine


def test_python_tool_protocol_results(tmp_path: Path):
    python = EchoPython()
    with registry(tmp_path, None, servers={}, python=python) as r:
        ok = r.call("python", "ab", timeout=7, call_id="c1")
        assert (ok.recipient, ok.output, ok.error, ok.call_id) == ("python", "abab", False, "c1")
        assert python.calls == [("ab", 7)]
        bad = r.call("python", "boom")
        assert bad.error and bad.output == "Traceback: ZeroDivisionError"
        big = r.call("python", "y" * MAX_OUTPUT_CHARS)
        assert "[Output cut: the tool returned" in big.output
        r.state.set_python_enabled(False)
        assert r.call("python", "1").output == "The python tool is turned off in Fireside."


def test_without_a_python_tool_python_reports_it_is_not_available(tmp_path: Path):
    with registry(tmp_path, None, servers={}) as r:
        result = r.call("python", "print(1)")
        assert result.error and "not available" in result.output
        assert r.entries()[0].state == "not available"
