"""Runs the conversation service and its engine on their own QThread; reports only through signals.

This is the window's thin adapter over core/chat/session.py: the service runs the turn and saves
it, the worker batches its events into signals. The worker never touches a widget or a Qt model:
the GUI thread owns those. Requests arrive as
queued `…Requested` signals; results leave as signals carrying plain data. Every failure becomes a
payload with a sentence a person can act on, so nothing the engine raises can take the app down.

Stopping is the one thing that does not go through the event queue: while a reply streams, this
thread is busy inside the engine loop and would only see a queued request after the reply ended.
`cancel()` therefore sets a `threading.Event` directly from the GUI thread, and the engine checks
it between tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from fireside.core.admin.model_access import LoadRefused
from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats, ToolCall, ToolResult
from fireside.core.chat.session import (
    ChatSession,
    Failed,
    LeftOut,
    Saved,
    SaveFailed,
    ToolRunner,
    Turn,
)
from fireside.core.engine.protocol import Engine, EngineError, LoadConfig
from fireside.core.history.store import Store
from fireside.ui import wording
from fireside.ui.remotes.target import RemoteTarget, in_window_words

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.05


class _Batcher:
    """Coalesces deltas so the GUI re-renders at most about every 50 ms.

    The first delta goes out at once (the user should see the model start), later ones when the
    interval has passed since the last emission, and whatever is left at `flush()`.
    """

    def __init__(
        self, emit: Callable[[str, str], None], interval: float, clock: Callable[[], float]
    ) -> None:
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        self._last: float | None = None

    def add(self, reasoning: str, answer: str) -> None:
        if reasoning:
            self._reasoning.append(reasoning)
        if answer:
            self._answer.append(answer)
        if self._last is None or self._clock() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        if not (self._reasoning or self._answer):
            return
        reasoning, answer = "".join(self._reasoning), "".join(self._answer)
        self._reasoning.clear()
        self._answer.clear()
        self._last = self._clock()
        self._emit(reasoning, answer)


class InferenceWorker(QObject):
    """Owns one Engine, made by `engine_factory` on the worker thread when first needed, and runs
    turns through the conversation service (core/chat/session.py), which does the saving."""

    loadRequested = Signal(str, object)  # path, LoadConfig | None
    # RemoteTarget: open a remote engine (network I/O here, on this thread); the engine in use
    # (local or remote) is replaced only once the new one is ready
    remoteLoadRequested = Signal(object)
    turnRequested = Signal(int, object)  # request id, Turn
    # A callable run here with the ChatSession: the local API server's jobs (server/engine_access),
    # queued with the window's own turns on the one engine.
    jobRequested = Signal(object)

    loaded = Signal(object)  # ModelInfo
    loadFailed = Signal(str)  # message for the user
    unloaded = Signal()  # a failed load left no model in memory
    saved = Signal(int, object)  # request id, Saved: a message of the turn reached the history
    streamed = Signal(int, str, str)  # request id, reasoning delta, answer delta
    finished = Signal(int, object)  # request id, ReplyStats
    failed = Signal(int, str)  # request id, message for the user
    saveFailed = Signal(int, str)  # request id, message: the reply goes on, unsaved
    leftOut = Signal(int, object)  # request id, LeftOut: older messages left out of this reply
    # request id, Overflow: may older messages be left out? Answer with answer_overflow(); the
    # worker waits for it (or for Stop), the GUI thread never does.
    overflowed = Signal(int, object)
    toolCalled = Signal(int, object)  # request id, ToolCall (a step of the reply ended with it)
    toolResult = Signal(int, object)  # request id, ToolResult
    # request id, ToolCall: may it run? Answer with answer_approval(); the worker waits.
    approvalRequested = Signal(int, object)

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        store: Store | None = None,
        *,
        tools_factory: Callable[[], ToolRunner] | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        prepare_load: Callable[[str], str] | None = None,
        remote_opener: Callable[[RemoteTarget], Engine] | None = None,
    ) -> None:
        super().__init__()
        self._factory = engine_factory
        self._store = store  # thread-safe; the session writes with this thread's connection
        # Turns a model name into its file and applies the organisation's allow-list (raising
        # LoadRefused). It walks folders and may hash the file, so it runs here, off the GUI.
        self._prepare_load = prepare_load
        self._engine: Engine | None = None  # the engine in use: the local one or a remote one
        self._local: Engine | None = None  # made by engine_factory, kept while a remote is in use
        self._remote_opener = remote_opener
        self._session: ChatSession | None = None
        self._tools_factory = tools_factory  # the tool registry, made on this thread when first needed
        self._tools: ToolRunner | None = None
        self._flush_interval = flush_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}
        self._answers: dict[int, tuple[threading.Event, list[bool]]] = {}
        self._always: set[int] = set()  # requests whose last approval was "always allow"
        self._done_upto = 0  # highest request id already answered
        self._closing = False
        self.loadRequested.connect(self._load)
        self.remoteLoadRequested.connect(self._load_remote)
        self.turnRequested.connect(self._turn)
        self.jobRequested.connect(self._job)

    # Called from the GUI thread, directly (not queued)

    def cancel(self, request_id: int) -> None:
        """Stop a running or still-queued reply, and any MCP call it is waiting on. Safe from
        any thread."""
        with self._lock:
            if request_id <= self._done_upto and request_id not in self._cancels:
                return
            self._cancels.setdefault(request_id, threading.Event()).set()
        stop_calls = getattr(self._tools, "stop_calls", None)
        if stop_calls is not None:
            stop_calls()  # the registry's own thread-safe Stop: the call ends as a result

    def cancel_all(self) -> None:
        """For shutdown: stop the running reply and turn any queued one into a no-op."""
        with self._lock:
            self._closing = True
            for event in self._cancels.values():
                event.set()

    def answer_overflow(self, request_id: int, leave_out: bool) -> None:
        """The person's answer to `overflowed`. Safe from any thread."""
        self._answer(request_id, leave_out)

    def answer_approval(self, request_id: int, allow: bool, always: bool = False) -> None:
        """The person's answer to `approvalRequested` (`always`: remember it for this tool, which
        the registry does on this worker's thread). Safe from any thread."""
        if allow and always:
            with self._lock:
                self._always.add(request_id)
        self._answer(request_id, allow)

    def _answer(self, request_id: int, answer: bool) -> None:
        with self._lock:
            waiting = self._answers.get(request_id)
        if waiting is not None:
            waiting[1].append(answer)
            waiting[0].set()

    def release_engine(self) -> None:
        """Free the model. Call only once the worker thread has stopped, so nothing else uses it."""
        tools, self._tools = self._tools, None
        if tools is not None and hasattr(tools, "close"):
            try:
                tools.close()  # MCP servers and python sandboxes end with the app
            except Exception:
                log.exception("Closing the tools failed during shutdown")
        engine, local = self._engine, self._local
        self._engine = self._local = self._session = None
        for each in (engine, local) if local is not engine else (engine,):
            if each is not None:
                try:
                    _close(each, local)
                except Exception:
                    log.exception("Unloading the model failed during shutdown")

    # Slots, run on the worker thread

    def _ensure_engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._ensure_local()
        return self._engine

    def _ensure_local(self) -> Engine:
        if self._local is None:
            self._local = self._factory()
        return self._local

    def _use(self, engine: Engine) -> None:
        """Make `engine` the one in use; the previous one is freed, and the session rebuilt."""
        previous, self._engine, self._session = self._engine, engine, None
        if previous is not None and previous is not engine:
            try:
                _close(previous, self._local)  # a remote one closes its connections; the local one unloads
            except Exception:
                log.exception("Freeing the previous model failed")

    def _ensure_session(self) -> ChatSession:
        if self._session is None:
            if self._tools is None and self._tools_factory is not None:
                try:
                    self._tools = self._tools_factory()
                except Exception:  # no tools is better than no chat
                    log.exception("The tools could not be set up")
            self._session = ChatSession(self._ensure_engine(), self._store, self._tools)
        return self._session

    @Slot(str, object)
    def _load(self, path: str, config: LoadConfig | None) -> None:
        try:
            if self._prepare_load is not None:
                path = self._prepare_load(path)
        except LoadRefused as exc:
            self.loadFailed.emit(str(exc))
            return
        try:
            local = self._ensure_local()
            info = local.load(path, config)
            self._use(local)
        except EngineError as exc:
            message = str(exc)
        except Exception as exc:
            log.exception("Loading %s failed", path)
            message = wording.load_crashed(exc)
        else:
            self.loaded.emit(info)
            return
        if self._engine is None or self._engine.info is None:
            self.unloaded.emit()
        self.loadFailed.emit(message)

    @Slot(object)
    def _job(self, job: Callable[[ChatSession], None]) -> None:
        before = self._engine.info if self._engine is not None else None
        try:
            job(self._ensure_session())
        except Exception:  # the job reports its own failures; this is a last resort
            log.exception("An API job failed")
        info = self._engine.info if self._engine is not None else None
        if info is not None and info is not before:  # the job loaded another model
            self.loaded.emit(info)

    @Slot(object)
    def _load_remote(self, target: RemoteTarget) -> None:
        try:
            if self._remote_opener is None:
                raise EngineError("This window cannot use remote engines.")
            engine = self._remote_opener(target)
            info = engine.info
            if info is None:
                raise EngineError(f"{target.label} did not choose a model.")
        except (EngineError, ValueError) as exc:  # ValueError: an unknown name, a bad URL
            self.loadFailed.emit(in_window_words(str(exc)))  # the model in use stays loaded
            return
        except Exception as exc:
            log.exception("Connecting to %s failed", target.label)
            self.loadFailed.emit(wording.load_crashed(exc))
            return
        self._use(engine)
        self.loaded.emit(info)

    @Slot(int, object)
    def _turn(self, request_id: int, turn: Turn) -> None:
        with self._lock:
            cancel = self._cancels.setdefault(request_id, threading.Event())
            if self._closing:
                cancel.set()
        batch = _Batcher(
            lambda r, a: self.streamed.emit(request_id, r, a), self._flush_interval, self._clock
        )
        stats: ReplyStats | None = None
        error: str | None = None
        try:
            host = _AskTheWindow(self, request_id, cancel)
            for event in turn.run(self._ensure_session(), host, cancel):
                if isinstance(event, ReasoningDelta):
                    batch.add(event.text, "")
                elif isinstance(event, AnswerDelta):
                    batch.add("", event.text)
                elif isinstance(event, Done):
                    stats = event.stats
                elif isinstance(event, Failed):
                    error = event.message
                elif isinstance(event, Saved):
                    self.saved.emit(request_id, event)
                elif isinstance(event, SaveFailed):
                    self.saveFailed.emit(request_id, event.message)
                elif isinstance(event, LeftOut):
                    self.leftOut.emit(request_id, event)
                elif isinstance(event, ToolCall):
                    batch.flush()  # the step's text first, then its call
                    self.toolCalled.emit(request_id, event)
                elif isinstance(event, ToolResult):
                    self.toolResult.emit(request_id, event)
        except Exception as exc:  # the service turns failures into events; this is a last resort
            log.exception("Reply %d failed", request_id)
            error = wording.generation_crashed(exc)
        batch.flush()  # what arrived before an error is still shown
        with self._lock:  # done before the result goes out, so a late cancel() is a no-op
            self._cancels.pop(request_id, None)
            self._done_upto = max(self._done_upto, request_id)
        if error is not None:
            self.failed.emit(request_id, error)
        else:
            self.finished.emit(request_id, stats or ReplyStats(stop_reason="cancelled"))

    def ask_leave_out(self, request_id: int, overflow: Overflow, cancel: threading.Event) -> bool:
        return self._ask(request_id, cancel, lambda: self.overflowed.emit(request_id, overflow))

    def ask_approval(self, request_id: int, call: ToolCall, cancel: threading.Event) -> bool:
        allowed = self._ask(request_id, cancel, lambda: self.approvalRequested.emit(request_id, call))
        with self._lock:
            always = request_id in self._always
            self._always.discard(request_id)
        remember = getattr(self._tools, "set_always_allow", None) if allowed and always else None
        if remember is not None and (problem := remember(call.recipient, True)):
            log.warning("Could not remember to always allow %s: %s", call.recipient, problem)
        return allowed

    def _ask(self, request_id: int, cancel: threading.Event, ask: Callable[[], None]) -> bool:
        """Ask the GUI and wait here for its answer (or for Stop), never on the GUI thread."""
        answered, answer = threading.Event(), list[bool]()
        with self._lock:
            self._answers[request_id] = (answered, answer)
        try:
            ask()
            while not answered.wait(0.05):
                if cancel.is_set():
                    return False
            return bool(answer and answer[0])
        finally:
            with self._lock:
                self._answers.pop(request_id, None)


def _close(engine: Engine, local: Engine | None) -> None:
    """Free `engine`: the local one unloads its model (it is kept for the next local load), a
    remote one also closes its connections for good."""
    close = getattr(engine, "close", None) if engine is not local else None
    if callable(close):
        close()
    else:
        engine.unload()


class _AskTheWindow:
    """The service's questions during a turn, asked through signals; this thread waits."""

    def __init__(self, worker: InferenceWorker, request_id: int, cancel: threading.Event) -> None:
        self._worker, self._request_id, self._cancel = worker, request_id, cancel

    def leave_out_older(self, overflow: Overflow) -> bool:
        return self._worker.ask_leave_out(self._request_id, overflow, self._cancel)

    def approve(self, call: ToolCall) -> bool:
        return self._worker.ask_approval(self._request_id, call, self._cancel)


def start_worker(engine_factory: Callable[[], Engine], store: Store | None = None,
                 prepare_load: Callable[[str], str] | None = None,
                 tools_factory: Callable[[], ToolRunner] | None = None,
                 remote_opener: Callable[[RemoteTarget], Engine] | None = None,
                 ) -> tuple[InferenceWorker, QThread]:
    """Create the worker, move it to a fresh thread and start that thread."""
    thread = QThread()
    thread.setObjectName("fireside-inference")
    worker = InferenceWorker(engine_factory, store, prepare_load=prepare_load,
                             tools_factory=tools_factory, remote_opener=remote_opener)
    worker.moveToThread(thread)
    thread.start()
    return worker, thread


def stop_worker(worker: InferenceWorker, thread: QThread) -> None:
    """Shutdown in the agreed order: stop flag, quit, wait; then free the model."""
    worker.cancel_all()
    thread.quit()
    thread.wait()
    worker.release_engine()
