"""How the API server reaches the engine: jobs queued fairly on the one thread that owns it.

The engine is not thread-safe and the model is big, so every API request becomes a `Job` run on
the thread that owns the engine and its `ChatSession`: a dedicated thread for `fireside serve`
(`EngineThread`), the window's inference worker when the window serves (it calls `Job.execute`
on its QThread). Jobs run one at a time, first come first served.

A job's events cross to the server's event loop through a thread-safe hand-off
(`loop.call_soon_threadsafe` into an `asyncio.Queue`). A client that goes away sets the job's
`cancel` Event: the engine checks it between two tokens, and a job still queued never starts.

The first thing a job reports is `Ready` (the model is loaded, generation starts) or
`Unavailable` (no such model, or it cannot be loaded): the HTTP status is chosen from it before
any byte of the reply is sent.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from fireside.core.chat.session import ChatSession, Failed, TurnEvent
from fireside.core.engine.protocol import Engine, EngineError, LoadConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ready:
    """The job's model is loaded and its turn starts; `model` is the id it answers as."""

    model: str


@dataclass(frozen=True)
class Unavailable:
    """The job cannot run: `status` 404 (no such model) or 503 (it cannot be loaded now)."""

    status: int
    message: str


@dataclass(frozen=True)
class Rejected:
    """The request cannot be answered as sent (e.g. longer than the context): HTTP 400."""

    message: str
    code: str = ""


JobEvent = TurnEvent | Ready | Unavailable | Rejected
Work = Callable[[ChatSession, threading.Event], Iterator[TurnEvent | Rejected]]
_END = object()


class ModelResolver(Protocol):
    """Turns a requested model id into a file to load (on the engine thread: it may hash files)."""

    def path_for(self, model: str) -> str:
        """The file for `model`; raises LookupError (404) with a sentence when there is none."""
        ...

    def model_id(self, path: str) -> str:
        """The id a loaded file answers as in the API (its file name without .gguf)."""
        ...


@dataclass
class Job:
    """One API request's turn. `work` runs on the engine thread with its session."""

    model: str  # the requested id; "" for whatever is loaded
    work: Work
    label: str = ""  # for the request log: "POST /v1/chat/completions"
    cancel: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _queue: asyncio.Queue[object] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: list[object] = field(default_factory=list)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._queue = loop, asyncio.Queue()

    def push(self, event: object) -> None:
        """From the engine thread: hand an event to the server's loop (dropped once it closed).
        Events that arrive while the loop has not yet taken the previous ones go with them: one
        wake-up of the loop per batch, not per token, when the loop is the slower side."""
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            self._pending.append(event)
            if len(self._pending) > 1:
                return  # a drain is already scheduled
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is gone (server stopped): nobody is listening
            self.cancel.set()

    def _drain(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        assert self._queue is not None
        for event in events:
            self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[JobEvent]:
        """On the server's loop: the job's events until it ends."""
        assert self._queue is not None, "submit() the job first"
        while True:
            event = await self._queue.get()
            if event is _END:
                return
            yield event  # type: ignore[misc]

    def execute(self, session: ChatSession, switch: Callable[[str], Ready | Unavailable]) -> None:
        """Run the job on the engine thread: make sure its model is loaded, then its turn.
        Never raises: every failure reaches the client as an event."""
        try:
            if self.cancel.is_set():
                return
            ready = switch(self.model)
            self.push(ready)
            if isinstance(ready, Unavailable):
                return
            for event in self.work(session, self.cancel):
                self.push(event)
        except Exception as exc:  # a bug must not stop the engine thread or hang the client
            log.exception("An API job failed")
            self.push(Failed(f"Something went wrong while generating: {exc}"))
        finally:
            self.push(_END)


class EngineAccess(Protocol):
    """What the server needs from whoever owns the engine."""

    def submit(self, job: Job) -> None:
        """Queue `job` (already bound to the server's loop); its events arrive through it."""
        ...

    def model_ids(self) -> list[str]:
        """The models a request may name: the loaded one first, then the installed ones."""
        ...


class ModelSwitcher:
    """Loads the model a job asks for on the engine thread (when allowed), once per change."""

    def __init__(self, engine: Callable[[], Engine], resolver: ModelResolver,
                 config: Callable[[], LoadConfig | None], load_on_demand: bool = True) -> None:
        self._engine, self._resolver, self._config = engine, resolver, config
        self.load_on_demand = load_on_demand
        self.loading: Callable[[str], None] = lambda path: None  # e.g. the window's status line

    def loaded_id(self) -> str:
        info = self._engine().info
        return self._resolver.model_id(info.path) if info is not None else ""

    def __call__(self, model: str) -> Ready | Unavailable:
        engine = self._engine()
        info = engine.info
        if info is not None and (not model or model in (self.loaded_id(), info.name, info.path)):
            return Ready(self.loaded_id())
        if not model:
            return Unavailable(503, "No model is loaded. Name one in the request's model field, "
                                    "or start the server with --model.")
        try:
            path = self._resolver.path_for(model)
        except LookupError as exc:
            return Unavailable(404, str(exc.args[0]) if exc.args else f"No model called {model!r}.")
        if info is not None and path == info.path:
            return Ready(self.loaded_id())
        if not self.load_on_demand:
            return Unavailable(503, f"The model {model!r} is not loaded, and loading models on "
                                    "request is turned off. Load it in Fireside first.")
        self.loading(path)
        try:
            engine.load(path, self._config())
        except EngineError as exc:
            return Unavailable(503, f"The model {model!r} cannot be loaded: {exc}")
        return Ready(self.loaded_id())


class EngineThread:
    """`fireside serve`'s engine: one thread owning the engine and its session, jobs in FIFO."""

    def __init__(self, session: ChatSession, switch: ModelSwitcher,
                 model_ids: Callable[[], list[str]]) -> None:
        self.session = session
        self.switch = switch
        self._model_ids = model_ids
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="fireside-api-engine", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def model_ids(self) -> list[str]:
        return self._model_ids()

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the running job (cancel it first to be quick)."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job.execute(self.session, self.switch)
