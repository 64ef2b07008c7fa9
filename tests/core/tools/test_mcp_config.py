"""mcp.json in the shared notation: what is read, and every way it can be wrong, as one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fireside.core.tools.mcp_config import load_mcp_config


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "mcp.json"
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def test_reads_stdio_and_http_servers_in_the_shared_notation(tmp_path: Path):
    p = _write(tmp_path, {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp x"],
                  "env": {"DEBUG": "1"}, "disabled": False, "autoApprove": []},
        "remote": {"url": "https://mcp.example.org/mcp", "headers": {"Authorization": "Bearer t"},
                   "type": "http"},
    }})
    config = load_mcp_config(p)
    assert config.problems == () and config.exists
    files, remote = config.servers
    assert (files.name, files.transport, files.command) == ("files", "stdio", "npx")
    assert files.args == ("-y", "@modelcontextprotocol/server-filesystem", "/tmp x")
    assert files.env == (("DEBUG", "1"),)
    assert files.target == "npx -y @modelcontextprotocol/server-filesystem '/tmp x'"
    assert (remote.transport, remote.url, remote.headers) == (
        "http", "https://mcp.example.org/mcp", (("Authorization", "Bearer t"),))
    assert remote.target == "https://mcp.example.org/mcp"  # headers (secrets) are not shown
    assert config.server("remote") is remote


def test_a_missing_file_is_no_servers_and_no_problem(tmp_path: Path):
    config = load_mcp_config(tmp_path / "mcp.json")
    assert (config.servers, config.problems, config.exists) == ((), (), False)


def test_fingerprint_follows_everything_that_could_change_the_tools(tmp_path: Path):
    def fp(entry: dict[str, object]) -> str:
        return load_mcp_config(_write(tmp_path, {"mcpServers": {"s": entry}})).servers[0].fingerprint()

    base = fp({"command": "srv", "args": ["a"]})
    assert base == fp({"command": "srv", "args": ["a"]})
    assert len({base, fp({"command": "srv", "args": ["b"]}), fp({"command": "srv", "args": ["a"],
                                                                 "env": {"K": "v"}}),
                fp({"url": "http://127.0.0.1:1/mcp"})}) == 4


@pytest.mark.parametrize(("content", "expected"), [
    ("{oops", "is not valid JSON (line 1, column 2"),
    ("[1, 2]", "must be an object like"),
    ('{"mcpServers": []}', "must be an object like"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    (b"\xff\xfe\x00bad", "could not be read"),
    ('{"a": "' + "x" * (1 << 20) + '"}', "larger than 1 MiB"),
])
def test_an_unusable_file_is_one_problem_line_and_no_servers(tmp_path: Path, content: str | bytes,
                                                             expected: str):
    p = _write(tmp_path, content)
    config = load_mcp_config(p)
    assert config.servers == ()
    assert len(config.problems) == 1
    problem = config.problems[0]
    assert expected in problem and str(p) in problem and "\n" not in problem


@pytest.mark.parametrize(("entry", "expected"), [
    ({}, "needs a command (a program to start) or a url"),
    ("npx server", "must be an object with a command or a url"),
    ({"command": "a", "url": "http://127.0.0.1/mcp"}, "has both a command and a url"),
    ({"command": "  "}, "the command is empty"),
    ({"command": 5}, "command must be text"),
    ({"command": "a", "args": "-y pkg"}, "args must be a list"),
    ({"command": "a", "args": ["ok", {"deep": [[[[1]]]]}]}, "each of args must be text"),
    ({"command": "a", "env": {"K": 1}}, "env['K'] must be text"),
    ({"command": "a", "env": ["K=1"]}, "env must be an object"),
    ({"url": "ftp://host/mcp"}, "must start with http:// or https://"),
    ({"url": "http://127.0.0.1/sse", "type": "sse"}, "old SSE transport"),
    ({"url": "http://h/mcp", "headers": {"X": None}}, "headers['X'] must be text"),
    ({"command": "a\x00b"}, "NUL character"),
])
def test_a_bad_server_entry_is_skipped_and_the_others_still_load(tmp_path: Path, entry: object,
                                                                 expected: str):
    p = _write(tmp_path, {"mcpServers": {"bad": entry, "good": {"command": "srv"}}})
    config = load_mcp_config(p)
    assert [s.name for s in config.servers] == ["good"]
    assert len(config.problems) == 1
    assert "server 'bad'" in config.problems[0] and expected in config.problems[0]
    assert "\n" not in config.problems[0]
