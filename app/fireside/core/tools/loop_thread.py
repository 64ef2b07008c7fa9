"""An asyncio event loop in a daemon thread, with blocking, cancellable calls into it.

The MCP SDK is asyncio code; Fireside's callers (the inference worker, the CLI) are plain threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fireside.core.tools.mcp_client import McpServerError

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread, started on first use; blocking calls into it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._inflight: set[concurrent.futures.Future[Any]] = set()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        loop = self._start()
        fut = asyncio.run_coroutine_threadsafe(make(), loop)
        with self._lock:
            self._inflight.add(fut)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise McpServerError(f"No answer within {timeout:g} s.") from None
        except concurrent.futures.CancelledError:
            raise McpServerError("The call was stopped before it finished.") from None
        finally:
            with self._lock:
                self._inflight.discard(fut)

    def cancel_all(self) -> int:
        """Cancel every request in flight (their callers get "stopped"); returns how many."""
        with self._lock:
            pending = list(self._inflight)
        return sum(1 for f in pending if f.cancel())

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._main, args=(loop,),
                                                name="fireside-mcp", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def stop(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
