"""The local API server's cost: streaming tokens/s through it against in-process (target >= 0.97),
and the time-to-first-token it adds over loopback (target <= 10 ms).

One engine (Gemma 3 270M, or the 20b-shaped gpt-oss in full mode), one prompt, the two sides
alternating (common.alternate) with the same seed: in-process is `ChatSession.complete` on this
thread, as the window's worker runs it; the API side is the official `openai` client streaming
Chat Completions from the server on 127.0.0.1 (its own event loop thread, its engine thread).
Both are timed where the text arrives: tokens/s from the first to the last answer delta,
time-to-first-token from the call to the first answer delta. End-of-generation tokens are banned
so every reply runs to max_tokens. The client is a process of its own (api_client_child.py), as
an editor or a script is.

Run: `python -m tests.benchmarks.api_server [--quick] [--model gemma|shape20b] [--reps N]
[--max-tokens N] [--threads N]` (the 20b shape with --model only when already cached).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp

from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import Effort, Message, Sampling
from fireside.core.chat.events import AnswerDelta
from fireside.core.chat.session import ChatSession, TurnOptions
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.server.app import ServerOptions
from fireside.server.models import InstalledModels
from fireside.server.standalone import start_standalone
from tests.benchmarks.bench_models import eog_tokens, no_end_tokens
from tests.benchmarks.common import (
    alternate,
    cli,
    machine_details,
    make_ratio,
    median,
    throwaway_prefix_store,
)
from tests.benchmarks.structured import HARMONY_PREFIX, HarmonySides

SPEED_TARGET = 0.97
TTFT_TARGET_MS = 10.0
PROMPT = "Tell me a long story about a lighthouse keeper and the ships she guides home."
KEY = "fs-bench"


def _rate(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0


def _measure(label: str, path: Path, max_tokens: int, reps: int, threads: int,
             rows: list[dict[str, Any]], ratios: list[dict[str, Any]]) -> dict[str, Any]:
    # gpt-oss with random weights (the 20b shape) never writes a channel header by itself, so its
    # reply is forced into the final channel first (structured.HARMONY_PREFIX), on both sides
    sides = HarmonySides() if "gpt-oss" in label else None
    engine = LlamaEngine(sampler_factory=sides, prefix_store=throwaway_prefix_store())  # as the app builds it
    engine.load(str(path), LoadConfig(n_ctx=2048, n_threads=threads))
    harmony = engine.info is not None and engine.info.is_harmony
    if sides is not None:
        sides.n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)
        sides.ban = eog_tokens(engine)

    def force() -> None:
        if sides is not None:
            sides.forcing.force_text(engine, HARMONY_PREFIX)
    sampling = Sampling.for_model(harmony, seed=1)
    policy = load_policy([])
    served = start_standalone(engine, InstalledModels(policy, lambda: [], Path("."), (str(path),)),
                              ServerOptions(key=KEY), policy=policy, store=None)
    child = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.api_client_child",
                              served.url, KEY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[2])
    assert child.stdin is not None and child.stdout is not None
    session = ChatSession(engine)
    options = TurnOptions(effort=Effort.LOW, max_tokens=max_tokens, sampling=sampling)
    ttft: dict[str, list[float]] = {"in-process": [], "api": []}

    def in_process() -> float:
        force()
        t0 = time.perf_counter()
        stamps = [time.perf_counter() for e in session.complete((Message("user", PROMPT),), options)
                  if isinstance(e, AnswerDelta) and e.text]
        ttft["in-process"].append(stamps[0] - t0)
        return _rate(stamps)

    def api() -> float:
        assert child.stdin is not None and child.stdout is not None
        force()
        child.stdin.write(json.dumps({
            "model": "", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens, "seed": 1, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "reasoning_effort": "low"}) + "\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        ttft["api"].append(result["ttft_s"])
        return float(result["tokens_per_s"])

    try:
        with no_end_tokens(engine):
            in_process()  # warm up both paths and the prefix cache
            api()
            for v in ttft.values():
                v.clear()
            speeds = alternate({"in-process": in_process, "api": api}, reps)
    finally:
        child.stdin.close()
        child.wait(60)
        served.stop()
    ratio = median(speeds["api"]) / median(speeds["in-process"])
    overhead_ms = (median(ttft["api"]) - median(ttft["in-process"])) * 1000
    for side in ("in-process", "api"):
        rows.append({"model": label, "side": side, "median tokens/s": round(median(speeds[side]), 2),
                     "median ttft ms": round(median(ttft[side]) * 1000, 2), "runs": reps})
    ratios.append(make_ratio(f"{label}: API streaming tokens/s / in-process", ratio, SPEED_TARGET,
                             detail=f"{median(speeds['api']):.1f} vs {median(speeds['in-process']):.1f} "
                                    f"tok/s, {reps} rounds of {max_tokens} tokens"))
    ratios.append(make_ratio(f"{label}: loopback time-to-first-token overhead (ms)", overhead_ms,
                             TTFT_TARGET_MS, higher_is_better=False,
                             detail=f"{median(ttft['api']) * 1000:.1f} vs "
                                    f"{median(ttft['in-process']) * 1000:.1f} ms"))
    print(f"{label}: {ratio:.3f} speed ratio, {overhead_ms:.1f} ms TTFT overhead", file=sys.stderr)
    return {"speeds": speeds, "ttft_s": ttft}


def _chosen(names: tuple[str, ...]) -> list[tuple[str, Path]]:
    """`--model gemma|shape20b` (repeatable); the 20b shape only when already cached."""
    from tests.benchmarks.shape20b import shape20b_path
    from tests.helpers.gemma import cached_gemma

    out: list[tuple[str, Path]] = []
    for name in names:
        if name == "gemma":
            out.append(("gemma-3-270m", cached_gemma()))
        elif shape20b_path().is_file():
            out.append(("gpt-oss-20b shape", shape20b_path()))
        else:
            raise SystemExit("The 20b shape is not cached: python -m tests.benchmarks.shape20b "
                             "builds it (~12 GB).")
    return out


def run(quick: bool = False, max_tokens: int = 0, reps: int = 0, threads: int = 1,
        models_chosen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Quick: Gemma, 5 rounds of 128 tokens. Full: also the 20b shape, 7 rounds of 256.
    `models_chosen` (the `--model` option) replaces either list."""
    from tests.helpers.gemma import cached_gemma

    max_tokens = max_tokens or (128 if quick else 256)
    reps = reps or (5 if quick else 7)
    models: list[tuple[str, Path]] = [("gemma-3-270m", cached_gemma())]
    if models_chosen:
        models = _chosen(models_chosen)
    elif not quick:
        from tests.benchmarks.shape20b import cached_shape20b

        models.append(("gpt-oss-20b shape", cached_shape20b()))
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    for label, path in models:
        samples[label] = _measure(label, path, max_tokens, reps, threads, rows, ratios)
    return {"title": "Local API server: streaming speed and first-token overhead against in-process",
            "rows": rows, "ratios": ratios, "samples": samples,
            "settings": {"max_tokens": max_tokens, "reps": reps, "threads": threads},
            "machine": machine_details()}


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--reps", type=int, default=0, help="rounds (default: 5 quick, 7 full)")
        parser.add_argument("--max-tokens", type=int, default=0, help="tokens per reply")
        parser.add_argument("--threads", type=int, default=1, help="engine threads (default 1)")
        parser.add_argument("--model", dest="models_chosen", action="append", default=[],
                            choices=("gemma", "shape20b"),
                            help="gemma or shape20b (repeatable; default: gemma, and the 20b "
                                 "shape in full mode)")

    def _run(models_chosen: list[str], **kw: Any) -> dict[str, Any]:
        return run(models_chosen=tuple(models_chosen), **kw)

    cli(_run, __doc__.splitlines()[0], extra=_options)
