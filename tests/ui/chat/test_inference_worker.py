"""InferenceWorker on its own thread: batching, failures as payloads, cancellation, shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QObject, QThread, Signal

from fireside.core.chat.conversation import Message
from fireside.core.chat.events import ReplyStats
from fireside.core.chat.session import Turn, TurnOptions
from fireside.core.engine.protocol import EngineError
from fireside.ui.chat.inference_worker import InferenceWorker, _Batcher, start_worker, stop_worker
from tests.helpers.stubs import ScriptedEngine

# An unsaved turn: these tests are about the worker's threading, not the history.
REQUEST = Turn("complete", TurnOptions(), messages=(Message("user", "Hi"),))


class Relay(QObject):
    """Re-emits the worker's signals on the GUI thread.

    qtbot.waitSignal on the worker's own signals would run its handler on the worker thread (a
    direct call into a plain Python callable); relaying through a GUI-thread QObject makes every
    result a queued event, as it is for the real window.
    """

    loaded = Signal(object)
    loadFailed = Signal(str)
    unloaded = Signal()
    streamed = Signal(int, str, str)
    finished = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, worker: InferenceWorker) -> None:
        super().__init__()
        for name in ("loaded", "loadFailed", "unloaded", "streamed", "finished", "failed"):
            getattr(worker, name).connect(getattr(self, name))


@dataclass
class Harness:
    worker: InferenceWorker
    thread: QThread
    out: Relay  # the worker's results, delivered on the GUI thread


@contextmanager
def running_worker(factory: Callable[[], ScriptedEngine]) -> Iterator[Harness]:
    worker, thread = start_worker(factory)
    try:
        yield Harness(worker, thread, Relay(worker))
    finally:
        stop_worker(worker, thread)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def h(engine: ScriptedEngine) -> Iterator[Harness]:
    with running_worker(lambda: engine) as harness:
        yield harness


def load(qtbot, h: Harness) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(h.out.loaded, timeout=5000):
        h.worker.loadRequested.emit("/m/gpt-oss.gguf", None)


class StepClock:
    """Advances by `step` every time it is read: a stand-in for tokens arriving over time."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_batcher_sends_first_delta_at_once_then_at_most_every_interval() -> None:
    sent: list[tuple[str, str]] = []
    batch = _Batcher(lambda r, a: sent.append((r, a)), 0.05, StepClock(0.01))
    for i in range(20):
        batch.add(f"r{i}", "") if i < 10 else batch.add("", f"a{i}")
    batch.flush()
    assert sent[0] == ("r0", "")
    assert len(sent) <= 1 + 20 * 0.01 / 0.05 + 1
    assert "".join(r for r, _ in sent) == "".join(f"r{i}" for i in range(10))
    assert "".join(a for _, a in sent) == "".join(f"a{i}" for i in range(10, 20))


def test_thousand_fast_tokens_arrive_in_a_few_emissions(qtbot, engine: ScriptedEngine) -> None:  # type: ignore[no-untyped-def]
    """The test sets the pace: the worker's clock advances 1 ms each time it is read (once per
    token, twice when a batch goes out), so 1,000 tokens span about one second of engine time
    however loaded the machine is, and the 50 ms batching must turn them into about 20 emissions."""
    engine.reasoning = tuple(f"r{i} " for i in range(500))
    engine.answer = tuple(f"a{i} " for i in range(500))
    worker = InferenceWorker(lambda: engine, clock=StepClock(0.001))
    thread = QThread()
    worker.moveToThread(thread)
    thread.start()
    h = Harness(worker, thread, Relay(worker))
    try:
        load(qtbot, h)
        chunks: list[tuple[int, str, str]] = []
        h.out.streamed.connect(lambda rid, r, a: chunks.append((rid, r, a)))
        with qtbot.waitSignal(h.out.finished, timeout=5000) as blocker:
            h.worker.turnRequested.emit(1, REQUEST)
    finally:
        stop_worker(worker, thread)
    request_id, stats = blocker.args
    assert request_id == 1 and isinstance(stats, ReplyStats)
    assert stats.reasoning_tokens == 500 and stats.answer_tokens == 500
    assert "".join(r for _, r, _ in chunks) == "".join(engine.reasoning)
    assert "".join(a for _, _, a in chunks) == "".join(engine.answer)
    # The first token at once, then one batch per 50 ms of that second (a 1 ms step may land a
    # read just short of a boundary, so a batch can take 51 reads), and the rest at the end.
    assert 1 + 1000 // 52 <= len(chunks) <= 1 + 1000 // 50 + 1
    assert {rid for rid, _, _ in chunks} == {1}


def test_load_failure_is_a_payload(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = ScriptedEngine(fail_paths={"/bad.gguf": "That file is damaged."})
    with running_worker(lambda: engine) as h:
        with qtbot.waitSignals([h.out.unloaded, h.out.loadFailed], timeout=5000, order="strict"):
            h.worker.loadRequested.emit("/bad.gguf", None)
        with qtbot.waitSignal(h.out.loadFailed, timeout=5000) as blocker:
            h.worker.loadRequested.emit("/bad.gguf", None)
        assert blocker.args == ["That file is damaged."]


def test_engine_factory_crash_is_reported_not_raised(qtbot) -> None:  # type: ignore[no-untyped-def]
    def broken() -> ScriptedEngine:
        raise OSError("libllama.so: cannot open shared object file")

    with running_worker(broken) as h:
        with qtbot.waitSignal(h.out.loadFailed, timeout=5000) as blocker:
            h.worker.loadRequested.emit("/m.gguf", None)
        assert blocker.args[0] == (
            "Something went wrong while loading the model: "
            "libllama.so: cannot open shared object file"
        )


def test_engine_error_message_passes_through(  # type: ignore[no-untyped-def]
    qtbot, h: Harness, engine: ScriptedEngine
) -> None:
    engine.stream_error = EngineError("The conversation no longer fits in memory.")
    load(qtbot, h)
    with qtbot.waitSignal(h.out.failed, timeout=5000) as blocker:
        h.worker.turnRequested.emit(3, REQUEST)
    assert blocker.args == [3, "The conversation no longer fits in memory."]


def test_unexpected_error_mid_stream_keeps_what_arrived(  # type: ignore[no-untyped-def]
    qtbot, h: Harness, engine: ScriptedEngine
) -> None:
    engine.stream_error = KeyError("token")
    engine.error_after = 3
    load(qtbot, h)
    chunks: list[str] = []
    h.out.streamed.connect(lambda _rid, r, _a: chunks.append(r))
    with qtbot.waitSignal(h.out.failed, timeout=5000) as blocker:
        h.worker.turnRequested.emit(1, REQUEST)
    assert blocker.args == [1, "Something went wrong while generating: 'token'"]
    assert "".join(chunks) == "".join(engine.reasoning[:3])


def test_generating_without_a_model_fails_readably(qtbot, h: Harness) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(h.out.failed, timeout=5000) as blocker:
        h.worker.turnRequested.emit(1, REQUEST)
    assert blocker.args == [1, "No model is loaded. Open a model file first."]


def test_cancel_before_start_skips_the_engine(  # type: ignore[no-untyped-def]
    qtbot, h: Harness, engine: ScriptedEngine
) -> None:
    load(qtbot, h)
    h.worker.cancel(1)
    with qtbot.waitSignal(h.out.finished, timeout=5000) as blocker:
        h.worker.turnRequested.emit(1, REQUEST)
    assert blocker.args[1].stop_reason == "cancelled"
    assert engine.prompts == []


def test_cancel_mid_stream_from_the_gui_thread(  # type: ignore[no-untyped-def]
    qtbot, h: Harness, engine: ScriptedEngine
) -> None:
    engine.gate = threading.Event()
    load(qtbot, h)
    with qtbot.waitSignal(h.out.finished, timeout=5000) as blocker:
        h.worker.turnRequested.emit(1, REQUEST)
        qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
        h.worker.cancel(1)
    assert blocker.args[1].stop_reason == "cancelled"
    h.worker.cancel(1)  # cancelling a finished reply is a harmless no-op
    assert h.worker._cancels == {}


def test_stop_worker_while_streaming_returns_promptly(qtbot) -> None:  # type: ignore[no-untyped-def]
    engine = ScriptedEngine(gate=threading.Event())
    worker, thread = start_worker(lambda: engine)
    out = Relay(worker)
    with qtbot.waitSignal(out.loaded, timeout=5000):
        worker.loadRequested.emit("/m.gguf", None)
    worker.turnRequested.emit(1, REQUEST)
    qtbot.waitUntil(engine.reached_gate.is_set, timeout=5000)
    stop_worker(worker, thread)
    assert thread.isFinished()
    assert engine.info is None
