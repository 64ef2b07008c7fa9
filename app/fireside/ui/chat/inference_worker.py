"""Runs the engine on its own QThread and reports back only through signals.

The worker never touches a widget or a Qt model: the GUI thread owns those. Requests arrive as
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

from fireside.core.chat.context_fit import Overflow, fit_to_context
from fireside.core.chat.conversation import ChatRequest
from fireside.core.engine.protocol import ContextOverflow, Engine, EngineError, LoadConfig
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats
from fireside.core.admin.model_access import LoadRefused

from fireside.ui import wording

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
    """Owns one Engine, made by `engine_factory` on the worker thread when first needed."""

    loadRequested = Signal(str, object)  # path, LoadConfig | None
    generateRequested = Signal(int, object)  # request id, ChatRequest
    # The answer to `overflowed`: a shortened ChatRequest to generate from, or None to stop.
    overflowAnswered = Signal(int, object)

    loaded = Signal(object)  # ModelInfo
    loadFailed = Signal(str)  # message for the user
    unloaded = Signal()  # a failed load left no model in memory
    streamed = Signal(int, str, str)  # request id, reasoning delta, answer delta
    finished = Signal(int, object)  # request id, ReplyStats
    failed = Signal(int, str)  # request id, message for the user
    # request id, Overflow: the prompt does not fit; the reply stays open until overflowAnswered
    overflowed = Signal(int, object)

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        *,
        flush_interval: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        prepare_load: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__()
        self._factory = engine_factory
        # Turns a model name into its file and applies the organisation's allow-list (raising
        # LoadRefused). It walks folders and may hash the file, so it runs here, off the GUI.
        self._prepare_load = prepare_load
        self._engine: Engine | None = None
        self._flush_interval = flush_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}
        self._done_upto = 0  # highest request id already answered
        self._closing = False
        self._overflows: dict[int, str] = {}  # request id -> message, while the user decides
        self.loadRequested.connect(self._load)
        self.generateRequested.connect(self._generate)
        self.overflowAnswered.connect(self._answer_overflow)

    # Called from the GUI thread, directly (not queued)

    def cancel(self, request_id: int) -> None:
        """Stop a running or still-queued reply. Safe from any thread."""
        with self._lock:
            if request_id <= self._done_upto and request_id not in self._cancels:
                return
            self._cancels.setdefault(request_id, threading.Event()).set()

    def cancel_all(self) -> None:
        """For shutdown: stop the running reply and turn any queued one into a no-op."""
        with self._lock:
            self._closing = True
            for event in self._cancels.values():
                event.set()

    def release_engine(self) -> None:
        """Free the model. Call only once the worker thread has stopped, so nothing else uses it."""
        engine, self._engine = self._engine, None
        if engine is not None:
            try:
                engine.unload()
            except Exception:
                log.exception("Unloading the model failed during shutdown")

    # Slots, run on the worker thread

    def _ensure_engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    @Slot(str, object)
    def _load(self, path: str, config: LoadConfig | None) -> None:
        try:
            if self._prepare_load is not None:
                path = self._prepare_load(path)
        except LoadRefused as exc:
            self.loadFailed.emit(str(exc))
            return
        try:
            info = self._ensure_engine().load(path, config)
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

    @Slot(int, object)
    def _generate(self, request_id: int, request: ChatRequest) -> None:
        with self._lock:
            cancel = self._cancels.setdefault(request_id, threading.Event())
            if self._closing:
                cancel.set()
        batch = _Batcher(
            lambda r, a: self.streamed.emit(request_id, r, a), self._flush_interval, self._clock
        )
        stats, error = ReplyStats(stop_reason="cancelled"), None
        try:
            if not cancel.is_set():  # stopped while still queued: don't start the engine at all
                stats = self._run(request, cancel, batch)
        except ContextOverflow as exc:
            overflow = self._overflow(request, exc)
            with self._lock:
                self._overflows[request_id] = str(exc)
            self.overflowed.emit(request_id, overflow)  # still open: the user chooses
            return
        except EngineError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("Generating reply %d failed", request_id)
            error = wording.generation_crashed(exc)
        batch.flush()  # what arrived before an error is still shown
        with self._lock:  # done before the result goes out, so a late cancel() is a no-op
            self._cancels.pop(request_id, None)
            self._done_upto = max(self._done_upto, request_id)
        if error is None:
            self.finished.emit(request_id, stats)
        else:
            self.failed.emit(request_id, error)

    def _overflow(self, request: ChatRequest, exc: ContextOverflow) -> Overflow:
        engine = self._ensure_engine()
        try:
            fit = fit_to_context(request, engine.count_prompt_tokens, exc.n_ctx)
        except EngineError:
            fit = None
        return Overflow(str(exc), exc.prompt_tokens, exc.n_ctx, fit)

    @Slot(int, object)
    def _answer_overflow(self, request_id: int, request: ChatRequest | None) -> None:
        with self._lock:
            message = self._overflows.pop(request_id, None)
            cancelled = request_id in self._cancels and self._cancels[request_id].is_set()
        if message is None:
            return
        if request is not None and not cancelled:
            self._generate(request_id, request)
            return
        with self._lock:
            self._cancels.pop(request_id, None)
            self._done_upto = max(self._done_upto, request_id)
        self.failed.emit(request_id, message)

    def _run(self, request: ChatRequest, cancel: threading.Event, batch: _Batcher) -> ReplyStats:
        stats: ReplyStats | None = None
        for event in self._ensure_engine().stream(request, cancel):
            if isinstance(event, ReasoningDelta):
                batch.add(event.text, "")
            elif isinstance(event, AnswerDelta):
                batch.add("", event.text)
            elif isinstance(event, Done):
                stats = event.stats
            else:  # ToolCall: Fireside runs no tools yet
                log.info("Ignoring a tool call the model asked for: %r", event)
        if stats is None:  # an engine that forgot its Done; still end the reply cleanly
            stats = ReplyStats(stop_reason="cancelled" if cancel.is_set() else "end")
        return stats


def start_worker(engine_factory: Callable[[], Engine],
                 prepare_load: Callable[[str], str] | None = None) -> tuple[InferenceWorker, QThread]:
    """Create the worker, move it to a fresh thread and start that thread."""
    thread = QThread()
    thread.setObjectName("fireside-inference")
    worker = InferenceWorker(engine_factory, prepare_load=prepare_load)
    worker.moveToThread(thread)
    thread.start()
    return worker, thread


def stop_worker(worker: InferenceWorker, thread: QThread) -> None:
    """Shutdown in the agreed order: stop flag, quit, wait; then free the model."""
    worker.cancel_all()
    thread.quit()
    thread.wait()
    worker.release_engine()
