"""mcp.json: the MCP servers a user configured, in the notation Claude Desktop, Cursor and LM Studio share.

    {"mcpServers": {"NAME": {"command": "npx", "args": ["-y", "pkg"], "env": {"KEY": "value"}},
                    "OTHER": {"url": "https://host/mcp", "headers": {"Authorization": "Bearer …"}}}}

A server with `command` is started as a child process and spoken to over stdio; one with `url` is
reached over MCP's streamable HTTP transport. Other keys some clients write (`type`, `disabled`,
`autoApprove`, `timeout`, …) are ignored, except `"type": "sse"`, which is refused by name.

The file is the user's (they copy it between apps), so Fireside only reads it. Anything wrong with
it becomes a one-line problem and never an exception: the whole file when it cannot be read, one
server when only that entry is wrong (the others still work).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1 << 20  # a hand-written config is a few kilobytes; a megabyte is something else
FILE_NAME = "mcp.json"


@dataclass(frozen=True)
class ServerConfig:
    """One entry of `mcpServers`. Exactly one of `command` and `url` is set."""

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    @property
    def target(self) -> str:
        """What runs or is reached, for people and for the policy's allow-list (no secrets)."""
        return self.url if self.url else shlex.join([self.command, *self.args])

    def fingerprint(self) -> str:
        """Changes whenever anything that could change the server's tools changes."""
        text = json.dumps([self.name, self.command, self.args, self.env, self.cwd, self.url,
                           self.headers], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class McpConfig:
    path: Path
    servers: tuple[ServerConfig, ...] = ()
    problems: tuple[str, ...] = ()  # one line each, ready to show
    exists: bool = False

    def server(self, name: str) -> ServerConfig | None:
        return next((s for s in self.servers if s.name == name), None)


class _Bad(Exception):
    pass


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise _Bad(f"{what} must be text")
    if "\x00" in v:
        raise _Bad(f"{what} must not contain a NUL character")
    return v


def _str_map(v: Any, what: str) -> tuple[tuple[str, str], ...]:
    if v is None:
        return ()
    if not isinstance(v, dict):
        raise _Bad(f"{what} must be an object of text values")
    return tuple((_text(k, f"a key of {what}"), _text(x, f"{what}[{k!r}]")) for k, x in v.items())


def _server(name: str, entry: Any) -> ServerConfig:
    if not name.strip():
        raise _Bad("the name is empty")
    if not isinstance(entry, dict):
        raise _Bad("the entry must be an object with a command or a url")
    kind = entry.get("type", entry.get("transport"))
    if isinstance(kind, str) and kind.lower() == "sse":
        raise _Bad("it uses the old SSE transport, which Fireside does not support; "
                   "use the server's streamable HTTP address instead")
    command, url = entry.get("command"), entry.get("url", entry.get("serverUrl"))
    if command is not None and url is not None:
        raise _Bad("it has both a command and a url; give one")
    if command is not None:
        cmd = _text(command, "command").strip()
        if not cmd:
            raise _Bad("the command is empty")
        args = entry.get("args", [])
        if not isinstance(args, list):
            raise _Bad("args must be a list of text values")
        cwd = entry.get("cwd", "")
        return ServerConfig(name=name, command=cmd,
                            args=tuple(_text(a, "each of args") for a in args),
                            env=_str_map(entry.get("env"), "env"),
                            cwd=_text(cwd, "cwd") if cwd else "")
    if url is not None:
        u = _text(url, "url").strip()
        if not u.startswith(("http://", "https://")):
            raise _Bad(f"url {u!r} must start with http:// or https://")
        return ServerConfig(name=name, url=u, headers=_str_map(entry.get("headers"), "headers"))
    raise _Bad("it needs a command (a program to start) or a url (a streamable HTTP address)")


def load_mcp_config(path: Path) -> McpConfig:
    """Read mcp.json; a missing file is simply no servers."""
    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return McpConfig(path, problems=(f"{where} is larger than 1 MiB, so it was not read.",),
                             exists=True)
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return McpConfig(path)
    except (OSError, UnicodeDecodeError) as e:
        return McpConfig(path, problems=(f"{where} could not be read ({e.__class__.__name__}).",),
                         exists=True)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return McpConfig(path, problems=(f"{where} is not valid JSON (line {e.lineno}, column "
                                         f"{e.colno}: {e.msg}).",), exists=True)
    except RecursionError:
        return McpConfig(path, problems=(f"{where} is nested too deeply to be a configuration.",),
                         exists=True)
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        return McpConfig(path, problems=(f'{where} must be an object like {{"mcpServers": '
                                         '{"name": {"command": …}}}.',), exists=True)
    servers: list[ServerConfig] = []
    problems: list[str] = []
    for name, entry in data.get("mcpServers", {}).items():
        try:
            servers.append(_server(name, entry))
        except _Bad as e:
            problems.append(f"{where}: server {name!r}: {e}; it is skipped.")
    return McpConfig(path, tuple(servers), tuple(problems), exists=True)
