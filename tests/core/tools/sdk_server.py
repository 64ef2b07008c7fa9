"""A real MCP server written with the official SDK (mcp 2.x MCPServer, formerly FastMCP).

Run as `python sdk_server.py` (stdio) or `python sdk_server.py --http` (streamable HTTP on
127.0.0.1, port chosen by the kernel and printed as `PORT n` once the socket is listening).
"""

from __future__ import annotations

import os
import socket
import sys
import threading

from mcp.server.mcpserver import MCPServer

server = MCPServer("demo")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Repeat the text."""
    return text


@server.tool()
def big(n: int) -> str:
    """Return n characters."""
    return "x" * n


@server.tool()
def die() -> str:
    """Exit the server process in the middle of the call."""
    sys.stderr.write("demo server: exiting on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
def hang() -> str:
    """Never answer."""
    threading.Event().wait()
    return "unreachable"


@server.tool()
def pid() -> int:
    """The server's process id (tells a restarted server from the first one)."""
    return os.getpid()


def serve_http() -> None:
    import anyio
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue from here on, so the port can be announced now
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app()
    config = uvicorn.Config(app, log_level="warning")
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    if "--http" in sys.argv:
        serve_http()
    else:
        server.run()
