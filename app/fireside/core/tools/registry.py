"""Every tool Fireside can run, behind one thread-safe, blocking API for the conversation service.

    registry = ToolRegistry(paths, policy, python=sandbox_or_None)
    tools = registry.function_tools()           # FunctionTools to put in ChatRequest.tools
    result = registry.call(call.recipient, call.arguments, call_id=call.call_id)  # a ToolResult
    registry.close()

Callers are ordinary threads (the inference worker, the CLI), never asyncio code: the MCP
sessions live on an asyncio loop in a thread the registry owns, started on first use. Servers
start lazily: listing uses the tool list cached on disk for that exact server configuration
(cache/mcp-tools/FINGERPRINT.json) and starts a server only when nothing is cached; calling starts
it. Every wait is bounded. Every failure, and every bad request from the model (unknown tool,
arguments that are not a JSON object, a tool that is off or refused by policy, a server that
died or hung), comes back as a ToolResult with error=True and a sentence the model and the user
can read; nothing here raises for them.

Model-facing names are `server__tool`, reduced to [A-Za-z0-9_] and 64 characters (harmony's
`functions.NAME` and OpenAI's function names both accept that), made unique deterministically,
and listed in a stable order (servers as in mcp.json, tools sorted by name), so the prompt prefix
holding the tool definitions is byte-identical from one chat and one reconnect to the next.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from fireside import __version__
from fireside.core.admin.policy import Policy
from fireside.core.chat.conversation import FunctionTool
from fireside.core.chat.events import ToolResult
from fireside.core.config.paths import Paths
from fireside.core.tools import mcp_config, tool_state
from fireside.core.tools.loop_thread import LoopThread
from fireside.core.tools.mcp_client import McpConnection, McpServerError, RemoteTool
from fireside.core.tools.mcp_config import McpConfig, ServerConfig, load_mcp_config
from fireside.core.tools.naming import MAX_OUTPUT_CHARS, PYTHON, cap_output, ident, kind, model_names
from fireside.core.tools.shapes import (
    BadCall,
    PythonOutcome,
    PythonTool,
    ServerStatus,
    ToolEntry,
)
from fireside.core.tools.tool_state import ToolState

T = TypeVar("T")
DEFAULT_CALL_TIMEOUT = 120.0  # what the model is told for python; MCP tools get the same
DEFAULT_CONNECT_TIMEOUT = 30.0
RETRY_START_AFTER = 60.0  # seconds before a listing tries again a server that failed to start
__all__ = ["MAX_OUTPUT_CHARS", "PYTHON", "BadCall", "PythonOutcome", "PythonTool", "ServerStatus",
           "ToolEntry", "ToolRegistry", "cap_output", "model_names"]


class ToolRegistry:
    def __init__(self, paths: Paths, policy: Policy, python: PythonTool | None = None, *,
                 python_unavailable: str = "", connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 max_output_chars: int = MAX_OUTPUT_CHARS) -> None:
        self.paths = paths
        self.policy = policy
        self.python = python
        self.python_unavailable = python_unavailable or (
            "" if python is not None else "The python tool is not available in this version of Fireside.")
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.max_output_chars = max_output_chars
        self.state = ToolState(paths.config / tool_state.FILE_NAME)
        self.config: McpConfig = load_mcp_config(paths.config / mcp_config.FILE_NAME)
        self._loop = LoopThread()
        self._lock = threading.RLock()
        self._connections: dict[str, McpConnection] = {}
        self._tools: dict[str, list[RemoteTool]] = {}  # server name -> its tools, sorted
        self._from_cache: dict[str, bool] = {}
        self._stamp = self._config_stamp()

    # -- configuration ---------------------------------------------------------------------------
    @property
    def problems(self) -> tuple[str, ...]:
        return self.config.problems + ((self.state.problem,) if self.state.problem else ())

    def _config_stamp(self) -> tuple[int, int]:
        try:
            st = self.config.path.stat()
        except OSError:
            return (0, -1)
        return (st.st_mtime_ns, st.st_size)

    def reload(self) -> None:
        """Re-read mcp.json; servers whose configuration changed are stopped.

        Listing calls this by itself when the file changed, so a long-running window picks up an
        edited mcp.json at its next chat.
        """
        self._stamp = self._config_stamp()
        new = load_mcp_config(self.config.path)
        with self._lock:
            stale = [n for n, c in self._connections.items() if new.server(n) != c.config]
            for n in [n for n in self._tools if new.server(n) != self.config.server(n)]:
                self._tools.pop(n, None)
                self._from_cache.pop(n, None)
            self.config = new
            for n in stale:
                conn = self._connections.pop(n)
                self._tools.pop(n, None)
                if self._loop.started:
                    self._run(conn.close, 15.0)

    def server_refusal(self, server: ServerConfig) -> str:
        return self.policy.mcp_server_refusal(server.name, server.command,
                                              server.target if server.command else "", server.url)

    # -- listing ---------------------------------------------------------------------------------
    def servers(self, start: bool = False) -> list[ServerStatus]:
        if start:
            self.entries(start=True)
        out = []
        for s in self.config.servers:
            conn = self._connections.get(s.name)
            if refusal := self.server_refusal(s):
                state, error = "blocked by policy", refusal
            elif not self.state.server_enabled(s.name):
                state, error = "off", ""
            else:
                state = conn.state if conn else "not started"
                error = conn.last_error if conn and conn.state == "failed" else ""
            out.append(ServerStatus(s.name, s.transport, s.target, state, error,
                                    len(self._tools.get(s.name, ())), self._from_cache.get(s.name, False)))
        return out

    def entries(self, start: bool = True, refresh: bool = False) -> list[ToolEntry]:
        """Every tool with its state. `start`: start servers with no cached list; `refresh`: all."""
        if self._config_stamp() != self._stamp:
            self.reload()
        out = [self._python_entry()]
        listed: list[tuple[ServerConfig, RemoteTool]] = []
        for s in self.config.servers:
            runnable = not self.server_refusal(s) and self.state.server_enabled(s.name)
            tools = self._tools_of(s, start=start and runnable, refresh=refresh and runnable)
            listed += [(s, t) for t in tools]
        names = model_names([(s.name, t.name) for s, t in listed])
        auto_ok = not self.policy.auto_approval_refusal()
        for s, t in listed:
            state, reason = "on", ""
            if refusal := self.server_refusal(s):
                state, reason = "blocked by policy", refusal
            elif not self.state.server_enabled(s.name):
                state, reason = "server off", f"The MCP server {s.name!r} is turned off in Fireside."
            elif not self.state.tool_enabled(s.name, t.name):
                state, reason = "off", "This tool is turned off in Fireside."
            out.append(ToolEntry(names[(s.name, t.name)], s.name, t.name, t.description,
                                 t.parameters, state, reason,
                                 auto_ok and self.state.always_allowed(s.name, t.name)))
        return out

    def function_tools(self, start: bool = True) -> tuple[FunctionTool, ...]:
        """The MCP tools to offer the model (python is offered through ChatRequest.python_tool)."""
        return tuple(FunctionTool(e.name, e.description, e.parameters)
                     for e in self.entries(start=start) if e.server and e.state == "on")

    def python_refusal(self) -> str:
        """Why the python tool cannot be offered, or "" when it can."""
        if refusal := self.policy.python_tool_refusal():
            return refusal
        if self.python is None or self.python_unavailable:
            return self.python_unavailable or "The python tool is not available."
        if not self.state.python_enabled():
            return "The python tool is turned off in Fireside."
        return ""

    def _python_entry(self) -> ToolEntry:
        reason = self.python_refusal()
        if not reason:
            state = "on"
        elif self.policy.python_tool_refusal():
            state = "blocked by policy"
        elif self.python is None or self.python_unavailable:
            state = "not available"
        else:
            state = "off"
        return ToolEntry(PYTHON, "", PYTHON, "Runs Python code in a sandbox, statefully within a chat.",
                         {}, state, reason, False)

    def _tools_of(self, s: ServerConfig, start: bool, refresh: bool) -> list[RemoteTool]:
        with self._lock:
            have = s.name in self._tools and not refresh  # refresh: ask the server again
            if have:
                return self._tools[s.name]
            if not refresh:
                cached = self._read_cache(s)
                if cached is not None:
                    self._tools[s.name], self._from_cache[s.name] = cached, True
                    return cached
        if not (start or refresh):
            return []
        conn = self._connection(s)
        if not refresh and conn.state == "failed" and time.monotonic() - conn.failed_at < RETRY_START_AFTER:
            return []  # a server that just failed to start is not retried at every listing
        try:
            tools = self._run(lambda: conn.list_tools(self.connect_timeout, self.connect_timeout),
                              2 * self.connect_timeout + 15.0)
        except McpServerError:
            with self._lock:  # the state says why; a previously cached list still shows
                return self._tools.get(s.name, [])
        tools = sorted(tools, key=lambda t: t.name)
        with self._lock:
            self._tools[s.name], self._from_cache[s.name] = tools, False
        self._write_cache(s, tools)
        return tools

    def _connection(self, s: ServerConfig) -> McpConnection:
        with self._lock:
            conn = self._connections.get(s.name)
            if conn is None or conn.config != s:
                conn = McpConnection(s, self.paths.logs, __version__)
                self._connections[s.name] = conn
            return conn

    # -- the on-disk tool list -------------------------------------------------------------------
    def _cache_file(self, s: ServerConfig) -> Path:
        return self.paths.cache / "mcp-tools" / f"{s.fingerprint()}.json"

    def _read_cache(self, s: ServerConfig) -> list[RemoteTool] | None:
        try:
            data = json.loads(self._cache_file(s).read_text(encoding="utf-8"))
            return [RemoteTool(str(t["name"]), str(t.get("description", "")),
                               dict(t.get("parameters", {}))) for t in data["tools"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None

    def _write_cache(self, s: ServerConfig, tools: list[RemoteTool]) -> None:
        path = self._cache_file(s)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"server": s.name, "tools": [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in tools]}, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs a server start next time

    # -- calling ---------------------------------------------------------------------------------
    def prepare(self, name: str, arguments: str) -> tuple[ToolEntry, dict[str, Any]]:
        """Check a call without running it: raises BadCall with the reason the model should read."""
        name = name.strip().removeprefix("functions.")
        if name == PYTHON:
            if refusal := self.python_refusal():
                raise BadCall(refusal)
            return self._python_entry(), {}
        if refusal := self.policy.tools_refusal():
            raise BadCall(refusal)
        entries = [e for e in self.entries(start=False) if e.server]
        entry = next((e for e in entries if e.name == name), None)
        if entry is None:  # not cached yet: ask the server the name points at, then all
            for s in self.config.servers:
                if name.startswith(ident(s.name) + "__") and not self.server_refusal(s) \
                        and self.state.server_enabled(s.name):
                    self._tools_of(s, start=True, refresh=False)
            entries = [e for e in self.entries(start=False) if e.server]
            entry = next((e for e in entries if e.name == name), None)
        if entry is None:
            for status in self.servers():  # the tool may belong to a server that cannot run
                if name.startswith(ident(status.name) + "__") and status.state in (
                        "blocked by policy", "off", "failed"):
                    why = status.error or f"the MCP server {status.name!r} is turned off in Fireside."
                    raise BadCall(f"The tool {name!r} cannot be used: {why}", status.state == "failed")
            entries = [e for e in self.entries(start=True) if e.server]
            entry = next((e for e in entries if e.name == name), None)
        if entry is None:
            on = [e.name for e in entries if e.state == "on"]
            listing = ", ".join(on[:20]) + (", …" if len(on) > 20 else "")
            raise BadCall(f"There is no tool named {name!r}. "
                          + (f"Available tools: {listing}." if on else "No tools are available."))
        if entry.state != "on":
            raise BadCall(f"The tool {name!r} cannot be used: {entry.reason}")
        text = arguments.strip() or "{}"
        try:
            args = json.loads(text)
        except json.JSONDecodeError as e:
            raise BadCall(f"The arguments for {name!r} are not valid JSON (line {e.lineno}, column "
                          f"{e.colno}: {e.msg}). Send one JSON object with the tool's parameters.") from None
        except RecursionError:
            raise BadCall(f"The arguments for {name!r} are nested too deeply.") from None
        if not isinstance(args, dict):
            raise BadCall(f"The arguments for {name!r} must be a JSON object with the tool's "
                          f"parameters, not {kind(args)}.")
        return entry, args

    def call(self, name: str, arguments: str, timeout: float | None = None, *,
             call_id: str = "", conversation: str = "") -> ToolResult:
        """Run one call as the model made it. Never raises for the call's own problems."""
        timeout = self.call_timeout if timeout is None else timeout
        bare = name.strip().removeprefix("functions.")
        recipient = PYTHON if bare == PYTHON else f"functions.{bare}"
        t0 = time.perf_counter()
        try:
            entry, args = self.prepare(name, arguments)
        except BadCall as e:
            return ToolResult(recipient, str(e), call_id, True, time.perf_counter() - t0)
        if entry.name == PYTHON:
            return self._call_python(arguments, timeout, call_id, t0, conversation or "default")
        s = self.config.server(entry.server)
        if s is None:  # mcp.json changed under us
            return ToolResult(recipient, f"The MCP server {entry.server!r} is no longer configured.",
                              call_id, True, time.perf_counter() - t0)
        conn = self._connection(s)
        try:
            outcome = self._run(lambda: conn.call(entry.tool, args, self.connect_timeout, timeout),
                                timeout + self.connect_timeout + 15.0)
        except McpServerError as e:
            return ToolResult(recipient, str(e), call_id, True, time.perf_counter() - t0)
        if self._from_cache.get(s.name):  # now that it runs, check the cached list is current
            self._tools_of(s, start=False, refresh=True)
        text = outcome.text if outcome.text.strip() else "(the tool returned no output)"
        return ToolResult(recipient, cap_output(text, self.max_output_chars), call_id,
                          outcome.is_error, time.perf_counter() - t0)

    def _call_python(self, code: str, timeout: float, call_id: str, t0: float,
                     conversation: str) -> ToolResult:
        assert self.python is not None  # prepare() refused otherwise
        try:
            r = self.python.run(conversation, code, timeout)
        except Exception as e:  # the sandbox failing to run at all is a result, not a crash
            return ToolResult(PYTHON, f"The python tool failed to run: {e}", call_id, True,
                              time.perf_counter() - t0)
        output, error = r.output, r.error
        if isinstance(error, str) and error and error not in output:
            output = f"{output}\n{error}" if output else error
        return ToolResult(PYTHON, cap_output(output, self.max_output_chars), call_id, bool(error),
                          r.duration_s or time.perf_counter() - t0)

    # -- approvals (the dialog is the front end's; this is the memory) ---------------------------
    def always_allowed(self, name: str) -> bool:
        """Whether the user chose "always allow" for this tool (never, if policy forbids it)."""
        if self.policy.auto_approval_refusal():
            return False
        entry = self._entry(name)
        return entry is not None and entry.server != "" and self.state.always_allowed(entry.server,
                                                                                      entry.tool)

    def set_always_allow(self, name: str, allow: bool) -> str:
        """Remember "always allow" for an MCP tool, per server; returns a refusal or ""."""
        if allow and (refusal := self.policy.auto_approval_refusal()):
            return refusal
        entry = self._entry(name)
        if entry is None or not entry.server:
            return f"There is no MCP tool named {name!r}."
        self.state.set_always_allow(entry.server, entry.tool, allow)
        return ""

    def set_tool_enabled(self, name: str, enabled: bool) -> str:
        entry = self._entry(name)
        if entry is None or not entry.server:
            return f"There is no MCP tool named {name!r}."
        self.state.set_tool_enabled(entry.server, entry.tool, enabled)
        return ""

    def set_server_enabled(self, server: str, enabled: bool) -> None:
        self.state.set_server_enabled(server, enabled)
        if not enabled:
            with self._lock:
                conn = self._connections.get(server)
            if conn is not None and self._loop.started:
                self._run(conn.close, 15.0)

    def _entry(self, name: str) -> ToolEntry | None:
        name = name.strip().removeprefix("functions.")
        return next((e for e in self.entries(start=False) if e.name == name), None)

    # -- reporting -------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What `fireside doctor` shows: the policy's effect, python, each server; starts nothing."""
        p = self.policy
        self.entries(start=False)  # counts the tools of cached lists
        py = self._python_entry()
        return {
            "config": str(self.config.path),
            "config_exists": self.config.exists,
            "state_file": str(self.state.path),
            "tools_allowed": not p.tools_refusal(),
            "mcp_servers": p.get("mcp_servers", "any"),
            "allowed_mcp_servers": list(p.get("allowed_mcp_servers") or ()),
            "auto_approval_allowed": not p.auto_approval_refusal(),
            "python": {"state": py.state, "reason": py.reason},
            "servers": [{**s.as_json(), "policy": self.server_refusal(c)}
                        for s, c in zip(self.servers(), self.config.servers, strict=True)],
            "problems": list(self.problems),
        }

    def stop_calls(self) -> int:
        """Stop the MCP calls in flight, from any thread (the Stop button): each returns at once
        as an error result saying it was stopped; the servers keep running. Returns how many."""
        return self._loop.cancel_all() if self._loop.started else 0

    # -- plumbing --------------------------------------------------------------------------------
    def _run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        return self._loop.run(make, timeout)

    def close(self) -> None:
        """Stop every server (bounded), the python sandboxes and the loop thread; safe twice."""
        if self.python is not None:
            self.python.close_all()
        if self._loop.started:
            with self._lock:
                conns = list(self._connections.values())

            async def close_all() -> None:
                await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

            try:
                self._run(close_all, 20.0)
            except McpServerError:
                pass
            self._loop.stop()

    def __enter__(self) -> ToolRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
