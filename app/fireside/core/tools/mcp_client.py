"""One MCP server, reached through the official `mcp` SDK (2.x): start, list tools, call, restart.

Everything here runs on the registry's own asyncio loop thread (registry.py); nothing here blocks.
The SDK's `Client` is an async context manager whose task groups must be entered and left by the
same task, so each connection is one long-lived task (`_serve`) that enters the client, publishes
it, and waits to be told to stop. Calls are made from other tasks on the same loop, which the
SDK's session allows. When a call finds the connection closed (the server exited, the HTTP
endpoint went away) the connection is marked dead and its task wound down; the next use starts a
fresh one. A call that only times out leaves the server running: it may just be slow.

Errors reach the caller as `McpServerError` with a sentence a person can act on; a stdio server's
stderr goes to its own log file (logs/mcp-NAME.log), whose last line is quoted when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from fireside.core.tools.mcp_config import ServerConfig

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_SSE_EVENT_BYTES = 64 << 20  # the SDK's 1 MiB default would fail a large (but capped) result
MAX_PAGES = 100  # a server whose tools/list never stops paging cannot hang a listing


class McpServerError(Exception):
    """The server could not be started or reached, or it broke off: the message says which."""


@dataclass(frozen=True)
class RemoteTool:
    """A tool as the server describes it (its own name, not the model-facing one)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallOutcome:
    text: str
    is_error: bool = False


def _leaf(e: BaseException) -> BaseException:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def describe(e: BaseException) -> str:
    e = _leaf(e)
    if isinstance(e, FileNotFoundError):
        return f"the program {e.filename or ''!s} was not found".replace("  ", " ")
    if isinstance(e, PermissionError):
        return "the program could not be run (permission denied)"
    text = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    return text[:300]


class McpConnection:
    """A lazily started session with one configured server."""

    def __init__(self, config: ServerConfig, log_dir: Path | None, client_version: str) -> None:
        self.config = config
        self.state = "not started"  # "starting" | "running" | "stopped" | "failed"
        self.last_error = ""
        self.failed_at = 0.0  # time.monotonic() of the last failure to start
        self._log_dir = log_dir
        self._version = client_version
        self._client: Client | None = None  # while running
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._log_path: Path | None = None
        self._log_start = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def _ensure(self, timeout: float) -> Client:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            await self._wind_down()
            self.state = "starting"
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._serve(ready, self._stop),
                                             name=f"mcp:{self.config.name}")
            try:
                client = await asyncio.wait_for(asyncio.shield(ready), timeout)
            except TimeoutError:
                await self._wind_down(timeout=0.1)  # it is stuck in the handshake: cancel it
                if ready.done() and not ready.cancelled():
                    ready.exception()  # "stopped while starting": known, not "never retrieved"
                self._fail(f"did not start within {timeout:g} s")
            except McpServerError as e:
                await self._wind_down()
                self._fail(str(e))
            self._client, self.state, self.last_error = client, "running", ""
            return client

    def _fail(self, why: str) -> NoReturn:
        tail = self._stderr_tail()
        self.state, self.failed_at = "failed", time.monotonic()
        self.last_error = f"MCP server {self.config.name!r} {why}" + (
            f" (it said: {tail})" if tail and tail not in why else "") + "."
        raise McpServerError(self.last_error)

    async def _serve(self, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        from mcp import Client
        from mcp.types import Implementation

        try:
            async with contextlib.AsyncExitStack() as stack:
                target: Any
                if self.config.command:
                    from mcp import StdioServerParameters
                    from mcp.client.stdio import stdio_client

                    errlog = self._open_log()
                    stack.callback(errlog.close)  # after the child is gone (callbacks run last-in first)
                    params = StdioServerParameters(
                        command=self.config.command, args=list(self.config.args),
                        env=dict(self.config.env) or None, cwd=self.config.cwd or None)
                    target = stdio_client(params, errlog=errlog)
                else:
                    import httpx2
                    from mcp.client.streamable_http import streamable_http_client

                    http = await stack.enter_async_context(httpx2.AsyncClient(
                        headers=dict(self.config.headers), timeout=httpx2.Timeout(30.0, read=300.0)))
                    target = streamable_http_client(self.config.url, http_client=http,
                                                    max_sse_event_size=MAX_SSE_EVENT_BYTES)
                client = Client(target, client_info=Implementation(name="Fireside", version=self._version))
                await stack.enter_async_context(client)
                if not ready.done():
                    ready.set_result(client)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.set_exception(McpServerError("was stopped while starting"))
            raise
        except Exception as e:  # the SDK, the transport or the child: all become one sentence
            log.info("MCP server %r ended: %r", self.config.name, e)
            if not ready.done():
                ready.set_exception(McpServerError(f"could not be started: {describe(e)}"))
        finally:
            if self._task is asyncio.current_task():
                self._client = None
                if self.state == "running":
                    self.state = "stopped"

    async def _wind_down(self, timeout: float = 8.0) -> None:
        task, self._task, self._client = self._task, None, None
        if self._stop is not None:
            self._stop.set()
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (TimeoutError, Exception):
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2.0)

    async def close(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._wind_down()
            if self.state in ("running", "starting"):
                self.state = "stopped"

    # -- the two things Fireside asks a server ---------------------------------------------------
    async def list_tools(self, connect_timeout: float, timeout: float) -> list[RemoteTool]:
        client = await self._ensure(connect_timeout)

        async def pages() -> list[RemoteTool]:
            out: list[RemoteTool] = []
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                out += [RemoteTool(t.name, t.description or "", dict(t.input_schema or {}))
                        for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
            return out

        return await self._guard(pages, timeout, "listing its tools")

    async def call(self, tool: str, arguments: dict[str, Any], connect_timeout: float,
                   timeout: float) -> CallOutcome:
        client = await self._ensure(connect_timeout)

        async def one() -> CallOutcome:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout)
            return CallOutcome(result_text(result), bool(result.is_error))

        return await self._guard(one, timeout, f"running {tool!r}")

    async def _guard(self, work: Callable[[], Awaitable[T]], timeout: float, doing: str) -> T:
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        try:
            return await asyncio.wait_for(work(), timeout + 2.0)
        except TimeoutError:
            raise McpServerError(f"MCP server {self.config.name!r} did not answer within "
                                 f"{timeout:g} s while {doing}.") from None
        except MCPError as e:
            if e.code == REQUEST_TIMEOUT:
                raise McpServerError(f"MCP server {self.config.name!r} did not answer within "
                                     f"{timeout:g} s while {doing}.") from None
            if e.code != CONNECTION_CLOSED:
                raise McpServerError(f"MCP server {self.config.name!r} refused {doing}: "
                                     f"{describe(e)}.") from None
            cause: BaseException = e
        except Exception as e:  # a broken pipe, a refused HTTP connection, a malformed reply
            cause = e
        await self._wind_down(timeout=4.0)
        self.state = "failed"
        tail = self._stderr_tail()
        self.last_error = (f"MCP server {self.config.name!r} stopped while {doing} "
                           f"({describe(cause)}{'; it said: ' + tail if tail else ''}); "
                           "it will be restarted on the next call.")
        raise McpServerError(self.last_error)

    # -- the child's stderr ----------------------------------------------------------------------
    def _open_log(self) -> TextIO:
        if self._log_dir is None:
            import os

            return open(os.devnull, "w", encoding="utf-8")
        self._log_dir.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.config.name)[:60] or "server"
        self._log_path = self._log_dir / f"mcp-{safe}.log"
        fh = self._log_path.open("a", encoding="utf-8")
        fh.flush()
        self._log_start = fh.tell()
        return fh

    def _stderr_tail(self) -> str:
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as fh:
                fh.seek(self._log_start)
                text = fh.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""


def result_text(result: CallToolResult) -> str:
    """An MCP CallToolResult as the text the model reads: text as is, other content described."""
    import json

    from mcp.types import AudioContent, EmbeddedResource, ImageContent, ResourceLink, TextContent

    parts: list[str] = []
    for block in result.content or []:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent | AudioContent):
            parts.append(f"[{block.type} {block.mime_type}, about {len(block.data) * 3 // 4:,} bytes, "
                         "not shown]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource {block.uri}]")
        elif isinstance(block, EmbeddedResource):
            res = block.resource
            text = getattr(res, "text", None)
            parts.append(text if isinstance(text, str) else f"[binary resource {res.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)
