"""LoRA adapters: what one costs in generation speed, and how long switching takes.

- Gemma 3 270M (a real, quantized model): generation tokens/s with one rank-16 adapter on all
  four attention projections of every layer, divided by tokens/s without; runs interleaved
  (base, adapter, base, ...) and the medians compared. Target >= 0.9.
- Switching (tiny gpt-oss and Gemma): loading an adapter the first time (checks + llama.cpp's
  llama_adapter_lora_init), attaching another already-loaded set (llama_set_adapters_lora), and
  the time to first token of a short turn right after a switch against the same turn evaluated
  from scratch without one (a switch empties the KV cache, so both evaluate the whole prompt;
  the difference is the new compute graph).

Run alone: `python -m tests.benchmarks.lora [--quick]`, or as the suite's "lora" section.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import AdapterUse, ChatRequest, Message, Sampling
from fireside.core.chat.events import Done, ReplyStats
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig

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


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
