"""LoRA adapters: what one costs in generation speed, and how long switching takes.

- Gemma 3 270M (a real, quantized model): generation tokens/s with one rank-16 adapter on all
  four attention projections of every layer, divided by tokens/s without; runs interleaved
  (base, adapter, base, ...) and the medians compared. Target >= 0.9.
- Switching (tiny gpt-oss and Gemma): loading an adapter the first time (checks + llama.cpp's
  llama_adapter_lora_init), attaching another already-loaded set (llama_set_adapters_lora), and
  the time to first token of a short turn right after a switch against the same turn evaluated
  from scratch without one (a switch empties the KV cache, so both evaluate the whole prompt;
  the difference is the new compute graph).

- The gpt-oss-20b shape (`--model shape20b`, only when its 12 GB file is already cached): the
  same ratio with a rank-16 q/k/v/o adapter, and what switching costs a new chat (run_shape20b).

Run alone: `python -m tests.benchmarks.lora [--quick]`, or as the suite's "lora" section;
`python -m tests.benchmarks.lora --model shape20b [--reps N] [--max-tokens N]` for the 20b shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import AdapterUse, ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.common import median

PROMPT = "Count from 1 to 400, separated by commas."


def _reply(engine: LlamaEngine, uses: tuple[AdapterUse, ...], max_tokens: int,
           text: str = PROMPT) -> ReplyStats:
    return _timed_reply(engine, uses, max_tokens, text)[0]


def _timed_reply(engine: LlamaEngine, uses: tuple[AdapterUse, ...], max_tokens: int,
                 text: str = PROMPT) -> tuple[ReplyStats, float]:
    """The reply's stats and the process's CPU milliseconds per generated token (all threads:
    with several, time spent spinning at llama.cpp's per-node barriers counts too)."""
    request = ChatRequest(messages=(Message("user", text),), max_tokens=max_tokens,
                          sampling=Sampling.greedy(), adapters=uses)
    cpu0 = time.process_time()
    done = list(engine.stream(request))[-1]
    cpu = time.process_time() - cpu0
    assert isinstance(done, Done)
    return done.stats, 1000 * cpu / max(done.stats.answer_tokens + done.stats.reasoning_tokens, 1)


def generation_ratio(model: Path, adapter: Path, tokens: int, reps: int,
                     threads: int | None = None) -> dict[str, Any]:
    """Pairs of runs back to back (base, then adapter): the median of the pairs' ratios, so a
    machine whose load changes over the minutes of the run compares like with like."""
    engine = LlamaEngine()
    # the batch size the app loads with (LoadConfig's default, 512): a generated token is a batch
    # of one either way, but what users run is what is measured
    engine.load(str(model), LoadConfig(n_ctx=1024, n_threads=threads))
    lora = (AdapterUse(str(adapter), 1.0),)
    _reply(engine, lora, 8)  # load the adapter and warm both graphs up
    _reply(engine, (), 8)
    base: list[float] = []
    adapted: list[float] = []
    cpu: dict[str, list[float]] = {"base": [], "adapter": []}
    load_before = os.getloadavg()[0]
    for _ in range(reps):
        for name, uses, out in (("base", (), base), ("adapter", lora, adapted)):
            stats, cpu_ms = _timed_reply(engine, uses, tokens)
            out.append(stats.tokens_per_s)
            cpu[name].append(cpu_ms)
    engine.unload()
    return {"threads": threads or "one per core", "base_tokens_per_s": base,
            "adapter_tokens_per_s": adapted, "base_median": statistics.median(base),
            "adapter_median": statistics.median(adapted),
            "ratio": statistics.median(a / b for a, b in zip(adapted, base, strict=True)),
            # CPU time per token: with one thread the adapter's own arithmetic; with more, the
            # spinning at barriers too (a loaded machine shows it here first)
            "cpu_ms_per_token_base": statistics.median(cpu["base"]),
            "cpu_ms_per_token_adapter": statistics.median(cpu["adapter"]),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            # llama.cpp's CPU build waits at its per-node barriers as OpenMP says (libgomp spins
            # 300,000 times first unless told otherwise): it decides the two-thread figure
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", "unset")}


def switching(model: Path, adapters: list[Path], reps: int) -> dict[str, Any]:
    engine = LlamaEngine()
    engine.load(str(model), LoadConfig(n_ctx=1024, n_batch=128))
    assert engine.lora is not None
    first_load = []
    for path in adapters:
        t0 = time.perf_counter()
        engine.lora.apply((AdapterUse(str(path), 1.0),))
        first_load.append(time.perf_counter() - t0)
    attach = []
    for i in range(reps * len(adapters)):
        engine.lora.apply((AdapterUse(str(adapters[i % len(adapters)]), 1.0),))
        attach.append(engine.lora.last_switch_s)
    # A short turn evaluated from scratch under the same set, and right after a switch (which
    # empties the KV cache itself): the difference is what the switch adds (a new graph).
    same, switched = [], []
    assert engine.cache is not None
    for i in range(reps):
        use = (AdapterUse(str(adapters[i % len(adapters)]), 1.0),)
        _reply(engine, use, 1, "Hello there.")
        engine.cache.clear()
        same.append(_reply(engine, use, 1, "Hello there.").ttft_s)
        other = (AdapterUse(str(adapters[(i + 1) % len(adapters)]), 1.0),)
        switched.append(_reply(engine, other, 1, "Hello there.").ttft_s)
    engine.unload()
    return {"first_load_ms": [x * 1000 for x in first_load],
            "attach_loaded_ms_median": statistics.median(attach) * 1000,
            "ttft_same_set_ms_median": statistics.median(same) * 1000,
            "ttft_after_switch_ms_median": statistics.median(switched) * 1000}


def run(quick: bool = False) -> dict[str, Any]:
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.lora import lora_for
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    gemma, tiny = cached_gemma(), cached_tiny_gptoss()
    with tempfile.TemporaryDirectory(prefix="fireside-lora-bench-") as tmp:
        d = Path(tmp)
        g16 = lora_for(gemma, d / "gemma-r16.gguf", rank=16, alpha=16.0, std=0.01, seed=1)
        g16b = lora_for(gemma, d / "gemma-r16b.gguf", rank=16, alpha=16.0, std=0.01, seed=2)
        t16 = [lora_for(tiny, d / f"tiny-r16-{i}.gguf", rank=16, alpha=16.0, seed=i) for i in range(2)]
        gen = generation_ratio(gemma, g16, 48 if quick else 96, 2 if quick else 7)
        # One thread: no barrier between threads per graph node, which on a loaded machine
        # (descheduled spinning threads) costs more than the adapter's arithmetic.
        gen1 = generation_ratio(gemma, g16, 48 if quick else 96, 2 if quick else 7, threads=1)
        switch_tiny = switching(tiny, t16, 3 if quick else 10)
        switch_gemma = switching(gemma, [g16, g16b], 2 if quick else 5)
        size_mb = g16.stat().st_size / 1e6
    ratio = gen["ratio"]
    return {
        "title": "LoRA adapters: generation speed and switching",
        "rows": [
            {"model": "gemma-3-270m Q4_K_M", "adapter": f"rank 16, q/k/v/o, {size_mb:.1f} MB",
             "base_tok_s": round(gen["base_median"], 1), "adapter_tok_s": round(gen["adapter_median"], 1)},
            {"model": "tiny gpt-oss", **{k: v for k, v in switch_tiny.items() if k != "first_load_ms"},
             "first_load_ms": round(max(switch_tiny["first_load_ms"]), 2)},
            {"model": "gemma-3-270m Q4_K_M", **{k: v for k, v in switch_gemma.items()
                                                if k != "first_load_ms"},
             "first_load_ms": round(max(switch_gemma["first_load_ms"]), 2)},
        ],
        "ratios": [{"name": "Gemma generation tok/s with a rank-16 attention adapter / without",
                    "value": round(ratio, 3), "target": 0.9, "higher_is_better": True,
                    "ok": ratio >= 0.9, "detail": json.dumps(gen)},
                   {"name": "… the same, one thread", "value": round(gen1["ratio"], 3), "target": 0.9,
                    "higher_is_better": True, "ok": gen1["ratio"] >= 0.9, "detail": json.dumps(gen1)}],
        "generation": gen, "generation_one_thread": gen1,
        "switch_tiny": switch_tiny, "switch_gemma": switch_gemma,
    }


# ------------------------------------------------------------------ the gpt-oss-20b shape
SHAPE20B_TURNS = ("Hello there.", "Hi! How can I help?", "Good evening.")  # user, assistant, user


def _timed_turn(engine: LlamaEngine, uses: tuple[AdapterUse, ...], max_tokens: int,
                 messages: tuple[Message, ...] = (Message("user", PROMPT),)
                 ) -> tuple[ReplyStats, float]:
    """The reply's stats, and the CPU seconds per generated token after the first (the process's
    CPU time from the first streamed text to the end; NaN when the text only came at the end, as
    with random gpt-oss weights, whose reply has no channel header for the parser to stream)."""
    request = ChatRequest(messages=messages, max_tokens=max_tokens, sampling=Sampling.greedy(),
                          adapters=uses)
    cpu0 = None
    done = None
    for event in engine.stream(request):
        if cpu0 is None and isinstance(event, ReasoningDelta | AnswerDelta):
            cpu0 = time.process_time()
        if isinstance(event, Done):
            done = event
    assert done is not None and cpu0 is not None
    n = done.stats.answer_tokens + done.stats.reasoning_tokens
    cpu = time.process_time() - cpu0
    return done.stats, cpu / (n - 1) if n > 1 and cpu > 0 else math.nan


def _shape20b_switching(engine: LlamaEngine, sets: tuple[tuple[AdapterUse, ...], ...],
                        reps: int) -> dict[str, Any]:
    """Attaching a loaded set, and the next turn of a conversation with and without a switch.

    Per round: turn 1 under set A, then turn 2 under A (the conversation's prefix reused from the
    cache) and the same turn 2 under set B (a switch empties the cache: the whole conversation is
    evaluated again, because cells computed under A are wrong under B). The roles of the sets
    alternate between rounds. A new chat evaluates its whole prompt either way (gpt-oss's
    sliding-window layers cannot rewind into a shared system prefix yet), so a switch between
    chats costs only the first load and the attach."""
    assert engine.lora is not None and engine.cache is not None
    attach = []
    for i in range(reps * 2):
        engine.lora.apply(sets[i % 2])
        attach.append(engine.lora.last_switch_s)
    u1, a1, u2 = SHAPE20B_TURNS
    first = (Message("user", u1),)
    second = (*first, Message("assistant", a1), Message("user", u2))
    same, switched, prompt_tokens = [], [], 0
    for i in range(reps):
        a, b = sets[i % 2], sets[(i + 1) % 2]
        _timed_turn(engine, a, 1, first)
        same.append(_timed_turn(engine, a, 1, second)[0].ttft_s)
        stats, _ = _timed_turn(engine, b, 1, second)
        switched.append(stats.ttft_s)
        prompt_tokens = stats.prompt_tokens
    return {"attach_loaded_ms_median": statistics.median(attach) * 1000,
            "turn2_prompt_tokens": prompt_tokens,
            "ttft_turn2_same_set_s": same, "ttft_turn2_after_switch_s": switched,
            "ttft_turn2_same_set_s_median": statistics.median(same),
            "ttft_turn2_after_switch_s_median": statistics.median(switched)}


def run_shape20b(tokens: int = 64, reps: int = 4, threads: int | None = None) -> dict[str, Any]:
    """The gpt-oss-20b shape (tests/benchmarks/shape20b.py; only when its 12 GB file is already
    cached, it is never built here), one engine: first loads of two rank-16 adapters on q/k/v/o
    of all 24 layers, generation with one ÷ without (back-to-back pairs, median of the pairs'
    ratios, target >= 0.9; tokens/s and tokens per CPU-second), and switching
    (_shape20b_switching)."""
    from tests.benchmarks.shape20b import shape20b_path
    from tests.helpers.lora import lora_for

    model = shape20b_path()
    if not model.is_file():
        raise SystemExit("The 20b shape is not cached: python -m tests.benchmarks.shape20b builds "
                         "it (~12 GB).")
    with tempfile.TemporaryDirectory(prefix="fireside-lora-bench-") as tmp:
        d = Path(tmp)
        paths = [lora_for(model, d / f"shape20b-r16-{i}.gguf", rank=16, alpha=16.0, std=0.01,
                          seed=i + 1) for i in range(2)]
        size_mb = paths[0].stat().st_size / 1e6
        sets = tuple((AdapterUse(str(p), 1.0),) for p in paths)
        engine = LlamaEngine()
        t0 = time.perf_counter()
        engine.load(str(model), LoadConfig(n_ctx=1024, n_batch=128, n_threads=threads))
        load_s = time.perf_counter() - t0
        assert engine.lora is not None
        try:
            first_load = []
            for s in sets:
                t0 = time.perf_counter()
                engine.lora.apply(s)
                first_load.append((time.perf_counter() - t0) * 1000)
            _reply(engine, sets[0], 8)  # warm both graphs up
            _reply(engine, (), 8)
            print(f"shape20b: loaded in {load_s:.0f} s, warmed up", file=sys.stderr, flush=True)
            base: list[float] = []
            adapted: list[float] = []
            base_cpu: list[float] = []
            adapted_cpu: list[float] = []
            for _ in range(reps):
                for uses, speeds, cpus in (((), base, base_cpu), (sets[0], adapted, adapted_cpu)):
                    stats, cpu = _timed_turn(engine, uses, tokens)
                    speeds.append(stats.tokens_per_s)
                    cpus.append(cpu)
                print(f"shape20b: base {base[-1]:.2f}, adapter {adapted[-1]:.2f} tok/s; "
                      f"{base_cpu[-1] * 1000:.0f} vs {adapted_cpu[-1] * 1000:.0f} CPU ms/token",
                      file=sys.stderr, flush=True)
            switch = _shape20b_switching(engine, sets, max(2, reps // 2))
        finally:
            engine.unload()
    ratio = statistics.median(a / b for a, b in zip(adapted, base, strict=True))
    cpu_ratio = median([b / a for a, b in zip(adapted_cpu, base_cpu, strict=True)
                        if math.isfinite(a) and math.isfinite(b)])
    gen = {"threads": threads or "one per core", "tokens": tokens, "reps": reps,
           "base_tokens_per_s": base, "adapter_tokens_per_s": adapted,
           "base_cpu_s_per_token": base_cpu, "adapter_cpu_s_per_token": adapted_cpu,
           "base_median": statistics.median(base), "adapter_median": statistics.median(adapted),
           "ratio": ratio, "cpu_ratio": cpu_ratio}
    switch_ms = max(first_load) + switch["attach_loaded_ms_median"]
    return {
        "title": "LoRA adapters on the gpt-oss-20b shape: generation speed and switching",
        "rows": [{"model": "gpt-oss-20b shape", "adapter": f"rank 16, q/k/v/o, {size_mb:.1f} MB",
                  "model_load_s": round(load_s, 1), "first_load_ms": [round(x, 1) for x in first_load],
                  "base_tok_s": round(gen["base_median"], 2),
                  "adapter_tok_s": round(gen["adapter_median"], 2),
                  **{k: v for k, v in switch.items() if k.endswith(("median", "tokens"))}}],
        "ratios": [{"name": "20b shape generation tok/s with a rank-16 attention adapter / without",
                    "value": round(ratio, 3), "target": 0.9, "higher_is_better": True,
                    "ok": ratio >= 0.9, "detail": json.dumps(gen)},
                   {"name": "… the same, tokens per CPU-second",
                    "value": round(cpu_ratio, 3) if math.isfinite(cpu_ratio) else None,
                    "target": 0.9, "higher_is_better": True, "ok": bool(cpu_ratio >= 0.9),
                    "detail": "CPU time from the first token to the last, per token"},
                   {"name": "20b shape: switching to an adapter set between chats (first load of "
                            "the adapter + attaching), ms", "value": round(switch_ms, 2),
                    "target": 1000, "higher_is_better": False, "ok": switch_ms < 1000,
                    "detail": "the next turn of the same conversation after a switch evaluates the "
                              "whole conversation again: see switching"}],
        "generation": gen, "switching": switch, "first_load_ms": first_load, "model_load_s": load_s,
    }


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (Gemma)")
    parser.add_argument("--model", choices=("gemma", "shape20b"), default="gemma",
                        help="gemma (and the tiny gpt-oss for switching) or the 20b shape")
    parser.add_argument("--reps", type=int, default=4, help="shape20b: pairs of runs")
    parser.add_argument("--max-tokens", type=int, default=64, help="shape20b: tokens per reply")
    parser.add_argument("--threads", type=int, default=None, help="shape20b: default one per core")
    args = parser.parse_args(argv)
    if args.model == "shape20b":
        print(json.dumps(run_shape20b(args.max_tokens, args.reps, args.threads), indent=1))
    else:
        print(json.dumps(run(quick=args.quick), indent=1))


if __name__ == "__main__":
    _main(sys.argv[1:])
