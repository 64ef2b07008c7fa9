"""The tool loop's own cost per call: everything but the model and the tool (target < 20 ms).

The real conversation service (`ChatSession`, core/chat/session.py) runs turns on the real
LlamaEngine with the tiny gpt-oss GGUF, forced (tests/helpers/forcing.py) to call a trivial
in-process function tool `CALLS` times and then answer. Per call the loop parses nothing itself but
gives the call an id, records the step, asks the host, runs the tool through the runner, records
the result, starts the next step and builds the next request. What it costs is

    turn wall time - time inside the engine's stream (prompt rendering, tokenizing, evaluating,
    sampling, parsing: measured by timing every `next()` on its iterator) - the tools' own
    `ToolResult.duration_s`

divided by the calls. Two cases: an unsaved turn (`complete`, what the API server runs) and a
saved one (`send` on a real SQLite history in a temporary folder, what the window and the CLI
run), where the history's writes are timed too and reported as part of the breakdown.

Run: `python -m tests.benchmarks.tool_loop [--quick] [--turns N] [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fireside.core.chat.context_fit import Overflow
from fireside.core.chat.conversation import ChatRequest, FunctionTool, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ToolCall, ToolResult
from fireside.core.chat.session import ChatSession, Failed, TurnOptions
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.history.store import Store
from tests.benchmarks.common import cli, machine_details, make_ratio, median

TARGET_MS = 20.0  # issue 11
TOOL = FunctionTool("echo", "Returns its arguments.", {
    "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})
CALL = '<|channel|>commentary to=functions.echo <|constrain|>json<|message|>{"x": 1}<|call|>'
ANSWER = "<|channel|>final<|message|>Done.<|return|>"
STORE_METHODS = ("add_message", "start_reply", "update_partial", "finish", "siblings",
                 "create_conversation", "set_state", "active_path", "conversation")


class EchoTools:
    """A ToolRunner with one in-process tool that returns its arguments; always allowed."""

    def __init__(self) -> None:
        self.tool_s = 0.0
        self.calls = 0

    def function_tools(self) -> tuple[FunctionTool, ...]:
        return (TOOL,)

    def python_refusal(self) -> str:
        return "not offered"

    def always_allowed(self, name: str) -> bool:
        return True

    def call(self, name: str, arguments: str, timeout: float | None = None, *, call_id: str = "",
             conversation: str = "") -> ToolResult:
        t0 = time.perf_counter()
        output = json.dumps(json.loads(arguments))
        duration = time.perf_counter() - t0
        self.tool_s += duration
        self.calls += 1
        return ToolResult(name, output, call_id, duration_s=duration)


class Allow:
    def leave_out_older(self, overflow: Overflow) -> bool:
        return False

    def approve(self, call: ToolCall) -> bool:
        return True


class TimedEngine:
    """The engine, with the wall time spent inside it (stream() and every next()) summed."""

    def __init__(self, engine: LlamaEngine, on_first_step: Callable[[], object]) -> None:
        self.engine = engine
        self.on_first_step = on_first_step
        self.engine_s = 0.0
        self.stats_total_s = 0.0  # the engine's own ReplyStats.total_s, for a cross-check
        self.steps = 0
        self.first_stream_at = 0.0  # when the loop asked for its first step (the setup is done)

    def stream(self, request: ChatRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        t0 = time.perf_counter()
        if not self.first_stream_at:
            self.first_stream_at = t0
            self.on_first_step()
        inner = self.engine.stream(request, cancel)
        self.engine_s += time.perf_counter() - t0
        self.steps += 1
        return self._timed(inner)

    def _timed(self, inner: Iterator[Event]) -> Iterator[Event]:
        while True:
            t0 = time.perf_counter()
            try:
                event = next(inner)
            except StopIteration:
                self.engine_s += time.perf_counter() - t0
                return
            self.engine_s += time.perf_counter() - t0
            if isinstance(event, Done):
                self.stats_total_s += event.stats.total_s
            yield event

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        return self.engine.count_prompt_tokens(request)


def _time_store(store: Store, totals: dict[str, float]) -> None:
    """Wrap the store's methods the loop uses so their wall time is summed per method."""
    for name in STORE_METHODS:
        fn: Callable[..., Any] = getattr(store, name)

        def timed(*args: Any, _fn: Callable[..., Any] = fn, _name: str = name, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _fn(*args, **kw)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t0
        setattr(store, name, timed)


def one_turn(path: Path, calls: int, saved: bool, folder: Path) -> dict[str, float]:
    """One turn of `calls` tool calls and an answer; its time, split."""
    from tests.helpers.forcing import forcing_engine

    engine, forcing = forcing_engine(path, n_ctx=4096, n_threads=1)
    store = Store(folder / "history.sqlite3") if saved else None
    try:
        store_s: dict[str, float] = {}
        store_setup: dict[str, float] = {}  # the store's times when the first step began
        if store is not None:
            _time_store(store, store_s)
        timed, tools = TimedEngine(engine, lambda: store_setup.update(store_s)), EchoTools()
        session = ChatSession(timed, store, tools)  # type: ignore[arg-type]  # duck-typed Engine
        options = TurnOptions(mcp_tools=True, sampling=Sampling.greedy(), max_tokens=64,
                              max_tool_calls=calls + 1)
        forcing.force_replies(engine, [CALL] * calls + [ANSWER])
        t0 = time.perf_counter()
        if store is not None:
            events = list(session.send(None, "Call echo.", options, Allow()))
        else:
            events = list(session.complete((), options, Allow()))
        wall = time.perf_counter() - t0
        assert not forcing.errors, forcing.errors
        assert not any(isinstance(e, Failed) for e in events), events
        results = [e for e in events if isinstance(e, ToolResult)]
        assert len(results) == calls and not any(r.error for r in results), results
        assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == "Done."
        assert tools.calls == calls and timed.steps == calls + 1
        # The turn's setup (a new chat, the question, the first reply row) happens once, before
        # the first step: reported, but not counted per call.
        setup_s = timed.first_stream_at - t0
        setup_store_s = sum(store_setup.values())
        loop_s = wall - setup_s - timed.engine_s - tools.tool_s
        return {"wall_ms": 1000 * wall, "setup_ms": 1000 * setup_s, "engine_ms": 1000 * timed.engine_s,
                "engine_stats_ms": 1000 * timed.stats_total_s, "tool_ms": 1000 * tools.tool_s,
                "overhead_ms_per_call": 1000 * loop_s / calls,
                "history_ms_per_call": 1000 * (sum(store_s.values()) - setup_store_s) / calls,
                **{f"history {k} ms/call": 1000 * (v - store_setup.get(k, 0.0)) / calls
                   for k, v in store_s.items() if v - store_setup.get(k, 0.0) > 0}}
    finally:
        if store is not None:
            store.close()
        engine.unload()


def run(quick: bool = False, turns: int = 0, calls: int = 0) -> dict[str, Any]:
    """Quick: 3 turns of 10 calls per case. Full: 9 turns of 20 calls."""
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    turns = turns or (3 if quick else 9)
    calls = calls or (10 if quick else 20)
    path = cached_tiny_gptoss()
    samples: dict[str, list[dict[str, float]]] = {"unsaved": [], "saved": []}
    with tempfile.TemporaryDirectory(prefix="fireside-bench-toolloop-") as tmp:
        one_turn(path, 2, True, Path(tmp))  # warm up: imports, the file cache, SQLite
        for i in range(turns):
            for case in ("unsaved", "saved") if i % 2 == 0 else ("saved", "unsaved"):
                folder = Path(tmp) / f"{case}{i}"
                folder.mkdir()
                samples[case].append(one_turn(path, calls, case == "saved", folder))
    rows = []
    for case, runs in samples.items():
        keys: list[str] = []
        for r in runs:
            keys += [k for k in r if k not in keys]
        row: dict[str, Any] = {"case": case, "turns": len(runs), "calls per turn": calls}
        row.update({k: round(median([r.get(k, 0.0) for r in runs]), 3) for k in keys})
        rows.append(row)
    ratios = [
        make_ratio(f"tool loop overhead per call, {case} turn (ms)",
                   median([r["overhead_ms_per_call"] for r in samples[case]]), TARGET_MS,
                   higher_is_better=False,
                   detail=f"median of {turns} turns of {calls} calls; turn wall time minus time in "
                          "the engine minus the tool's own time, per call"
                          + ("; history writes included" if case == "saved" else ""))
        for case in samples
    ]
    return {"title": "Tool loop: overhead per call, excluding the model and the tool",
            "rows": rows, "ratios": ratios, "samples": samples,
            "settings": {"turns": turns, "calls": calls, "model": "tiny gpt-oss (forced calls)"},
            "spread_ms": {case: round(statistics.pstdev([r["overhead_ms_per_call"] for r in runs]), 3)
                          for case, runs in samples.items()},
            "machine": machine_details()}


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--turns", type=int, default=0, help="turns per case (default 3 quick, 9 full)")
        parser.add_argument("--calls", type=int, default=0, help="tool calls per turn (default 10 / 20)")

    cli(run, __doc__.splitlines()[0], extra=_options)
