"""No network from the python tool: a real listener on 127.0.0.1 never sees a connection.

Each layer is tried alone too (Landlock's TCP rules, the seccomp socket filter), and a control run
with every layer off does connect, so these tests would fail if a layer stopped working.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.tools.python_sandbox import PythonSandbox

CONNECT = """
import socket
try:
    s = socket.create_connection(("127.0.0.1", {port}), timeout=5)
    print("connected")
except OSError as e:
    print("refused:", type(e).__name__, e.errno)
"""
UDP = """
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {port}))
    print("sent")
except OSError as e:
    print("refused:", type(e).__name__)
"""
BIND = """
import socket
try:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print("listening")
except OSError as e:
    print("refused:", type(e).__name__)
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.setblocking(False)
        yield srv


def _accepted(srv: socket.socket) -> bool:
    try:
        conn, _ = srv.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _run(tmp_path: Path, layers: tuple[str, ...], code: str) -> str:
    with PythonSandbox(tmp_path / "w", layers=layers, require_isolation=False) as sb:
        out = sb.run(code)
        assert not out.error, out.output
        return out.output


def test_every_layer_on_refuses_tcp_udp_and_listening(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with PythonSandbox(tmp_path / "w") as sb:
        sb.start()
        assert sb.isolation is not None and sb.isolation.enforced
        assert sb.run(CONNECT.format(port=port)).output == "refused: PermissionError 1"
        assert sb.run(UDP.format(port=port)).output.startswith("refused")
        assert sb.run(BIND).output.startswith("refused")
        dns = sb.run("import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\n    print('resolved')\n"
                     "except OSError as e:\n    print('no dns')")
        assert dns.output == "no dns"
    assert not _accepted(listener)


def test_landlock_alone_refuses_tcp(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert _run(tmp_path, ("landlock-net",), CONNECT.format(port=port)) == "refused: PermissionError 13"
    assert _run(tmp_path, ("landlock-net",), BIND).startswith("refused")
    assert not _accepted(listener)


def test_seccomp_alone_refuses_sockets(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert _run(tmp_path, ("seccomp",), CONNECT.format(port=port)) == "refused: PermissionError 1"
    assert _run(tmp_path, ("seccomp",), UDP.format(port=port)).startswith("refused")
    unix = _run(tmp_path, ("seccomp",), "import socket\ntry:\n    socket.socket(socket.AF_UNIX)\n"
                "except OSError:\n    print('no unix sockets')\na, b = socket.socketpair(); print('pair ok')")
    assert unix == "no unix sockets\npair ok"  # asyncio's self-pipe (socketpair) keeps working
    assert not _accepted(listener)


def test_control_without_isolation_does_connect(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert _run(tmp_path, (), CONNECT.format(port=port)) == "connected"
    assert _accepted(listener)
