"""The server's own thread and event loop: uvicorn serving the Starlette app.

`ApiServer.start()` binds the socket itself (so `port=0` gives a free port known at once),
starts uvicorn on a fresh thread with its own asyncio loop, and returns when it accepts
connections. `stop()` asks uvicorn to finish, waits for the thread, and cancels whatever jobs
are still streaming (the engine is never left generating for a client that is gone).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger(__name__)


class ServerError(Exception):
    """The server could not start; the message is for the person."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiServer:
    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app, self.host, self.port = app, host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self, timeout: float = 30.0) -> str:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ServerError(f"Cannot listen on {self.host}:{self.port}: {exc.strerror or exc}.") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2)
        server = self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to start() or logged; the thread just ends
                self._error = exc
                log.exception("The API server stopped")
            finally:
                sock.close()
                ready.set()

        self._thread = threading.Thread(target=run, name="fireside-api-server", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < timeout:
            deadline.wait(0.01)  # uvicorn has no started-event to wait on
            waited += 0.01
        if not server.started:
            self.stop()
            raise ServerError(f"The API server did not start: {self._error or 'timed out'}.")
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
