"""The Tools dialog's access to a tool registry, entirely off the GUI thread.

Listing may start MCP servers, and a server that hangs holds its caller for the whole connect
timeout, so nothing here runs on the GUI thread. Two worker threads share one registry (it is
thread-safe):

- the *quick* thread runs, in order, the user's changes (a tool or server on or off, "always
  allow" revoked) and listings that start nothing (`entries(start=False)`, `servers()`); each job
  ends with a snapshot of plain data, emitted as `snapshot(seq, ToolsSnapshot, message)`;
- the *slow* thread (re)connects servers (`entries(start=True[, refresh=True])`), one pass at a
  time, and emits `connected()` when done; the dialog then asks the quick thread for a snapshot,
  and while a pass runs it polls it, so a server shows "starting" and then its failure live.

Jobs are numbered when requested; since the quick thread is first-in first-out, a snapshot whose
number is below the newest change's was taken before that change and the dialog drops it.
Failures cross as messages, never exceptions. `shutdown()` stops calls in flight and closes the
registry (its servers) on a background thread, so closing the dialog never waits for a hung server.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, SignalInstance, Slot

from fireside.core.tools.isolation import IsolationReport, isolation_report
from fireside.core.tools.registry import ServerStatus, ToolEntry, ToolRegistry

Action = Callable[[ToolRegistry], str]  # returns a refusal in words, or ""


@dataclass(frozen=True)
class ServerView:
    status: ServerStatus
    tools: tuple[ToolEntry, ...]


@dataclass(frozen=True)
class ToolsSnapshot:
    """Everything the dialog shows, as plain data taken on a worker thread."""

    python: ToolEntry
    isolation: IsolationReport
    servers: tuple[ServerView, ...]
    problems: tuple[str, ...]
    config_path: str
    config_exists: bool
    tools_refusal: str  # the organisation turned every tool off: why
    auto_approval_refusal: str  # "always allow" is not permitted: why


def take_snapshot(registry: ToolRegistry) -> ToolsSnapshot:
    """What the registry knows now; starts no server."""
    entries = registry.entries(start=False)
    statuses = registry.servers()
    by_server: dict[str, list[ToolEntry]] = {}
    for e in entries[1:]:
        by_server.setdefault(e.server, []).append(e)
    policy = registry.policy
    return ToolsSnapshot(
        python=entries[0], isolation=isolation_report(),
        servers=tuple(ServerView(s, tuple(by_server.get(s.name, ()))) for s in statuses),
        problems=registry.problems, config_path=str(registry.config.path),
        config_exists=registry.config.exists, tools_refusal=policy.tools_refusal(),
        auto_approval_refusal=policy.auto_approval_refusal())


class ToolsService(QObject):
    """One registry, driven from the GUI thread by requests; results arrive as queued signals."""

    snapshot = Signal(int, object, str)  # job number, ToolsSnapshot, a refusal or failure ("" if none)
    connected = Signal(str)  # a (re)connect pass ended (`connecting` if another follows); a failure, or ""
    failed = Signal(str)  # the registry could not even be built: why

    _STOP = object()

    def __init__(self, make_registry: Callable[[], ToolRegistry], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._make_registry = make_registry
        self._registry: ToolRegistry | None = None
        self._registry_lock = threading.Lock()
        self._closed = threading.Event()
        self._seq = 0
        self._quick: queue.Queue[object] = queue.Queue()
        self._quick_thread = threading.Thread(target=self._quick_main, name="fireside-tools-ui",
                                              daemon=True)
        self._quick_thread.start()
        self._slow_thread: threading.Thread | None = None
        self._slow_next: bool | None = None  # a pass asked for while one runs: refresh or not
        self._closer: threading.Thread | None = None
        self._connected_relay.connect(self._on_slow_done)

    _connected_relay = Signal(str)

    # -- requests (GUI thread) -------------------------------------------------------------------
    @property
    def connecting(self) -> bool:
        return self._slow_thread is not None

    def request_snapshot(self) -> int:
        """A snapshot that starts nothing; returns its job number."""
        return self._submit(None)

    def change(self, action: Action) -> int:
        """Apply one change on the quick thread, then snapshot; returns its job number."""
        return self._submit(action)

    def connect_servers(self, refresh: bool) -> None:
        """Start servers that have no tool list yet; `refresh`: (re)connect every runnable one."""
        if self._closed.is_set():
            return
        if self._slow_thread is not None:
            self._slow_next = bool(self._slow_next) or refresh
            return
        self._slow_thread = threading.Thread(target=self._slow_main, args=(refresh,),
                                             name="fireside-tools-connect", daemon=True)
        self._slow_thread.start()

    def shutdown(self, wait: float = 0.0) -> None:
        """Stop calls in flight and close the registry in the background; `wait` s at most for it
        (a second call still waits: closing the dialog shuts down without waiting)."""
        if self._closed.is_set():
            if wait and self._closer is not None:
                self._closer.join(wait)
            return
        self._closed.set()
        self._quick.put(self._STOP)
        with self._registry_lock:
            registry = self._registry
        if registry is not None:
            registry.stop_calls()
        slow, quick = self._slow_thread, self._quick_thread

        def close() -> None:
            for t in (slow, quick):
                if t is not None:
                    t.join()
            if registry is not None:
                registry.close()

        closer = self._closer = threading.Thread(target=close, name="fireside-tools-close", daemon=True)
        closer.start()
        if wait:
            closer.join(wait)

    # -- the threads -----------------------------------------------------------------------------
    def _submit(self, action: Action | None) -> int:
        self._seq += 1
        if not self._closed.is_set():
            self._quick.put((self._seq, action))
        return self._seq

    def _get_registry(self) -> ToolRegistry:
        with self._registry_lock:
            if self._registry is None:
                self._registry = self._make_registry()
            return self._registry

    def _quick_main(self) -> None:
        while True:
            job = self._quick.get()
            if job is self._STOP or self._closed.is_set():
                return
            assert isinstance(job, tuple)
            seq, action = job
            try:
                registry = self._get_registry()
                message = action(registry) if action is not None else ""
                snap = take_snapshot(registry)
            except Exception as e:  # a bug or an unreadable folder: said, not raised into Qt
                self._emit(self.failed, f"Fireside could not read its tools: {e}")
                continue
            self._emit(self.snapshot, seq, snap, message)

    def _slow_main(self, refresh: bool) -> None:
        message = ""
        try:
            self._get_registry().entries(start=True, refresh=refresh)
        except Exception as e:  # every server problem is a state already; this is anything else
            message = f"Connecting to the MCP servers failed: {e}"
        self._emit(self._connected_relay, message)

    def _emit(self, signal: SignalInstance, *args: object) -> None:
        """From a worker thread; the dialog may have closed (and been deleted) meanwhile."""
        if self._closed.is_set():
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # the C++ side was deleted between the check and the emit
            pass

    @Slot(str)
    def _on_slow_done(self, message: str) -> None:
        thread, self._slow_thread = self._slow_thread, None
        if thread is not None:
            thread.join()  # it has emitted: its last step
        if self._slow_next is not None and not self._closed.is_set():
            refresh, self._slow_next = self._slow_next, None
            self.connect_servers(refresh)  # before `connected`, so `connecting` tells it follows
        self.connected.emit(message)
