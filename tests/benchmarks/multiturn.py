"""Multi-turn time to first token: does the 20th turn of a chat start as fast as the first?

A 20-turn conversation of about 4,000 tokens through LlamaEngine.stream(), as the app drives it:
each turn sends the whole history (harmony-rendered), the engine keeps the cached prefix and
evaluates only what is new. Each turn generates a few tokens (we need only the time to the first),
then the history gets a fixed ~130-token assistant reply and the next ~60-token user message, so
every later turn evaluates about as many new tokens as the first (system + developer + user).

Turn 10 instead generates a reply longer than the sliding window (160 tokens > gpt-oss's 128;
the tiny model's window is 4), so the SWA layers move past the end of that prompt and the next
turn can only reuse the prefix through the engine's SWA checkpoint (kv_cache.py).

Compared: TTFT of the last turn / the first turn, with KV-prefix reuse (the app's behaviour) and
with a full re-evaluation (the cache cleared, as a fresh context would be). Target with reuse:
<= 1.3. The re-evaluation side is measured for the first and the last turn only (on the 20b shape
a single 4,000-token evaluation takes minutes on two cores); reuse and re-evaluation of the last
turn run back to back. The first turn is a full evaluation either way; we time it twice (turn 1
and after the run) and use the lower, so one burst of load from elsewhere cannot skew the ratio.

Run: `python -m tests.benchmarks.multiturn [--quick]` (quick: the tiny model; full: the tiny
model and the gpt-oss-20b shape).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import BenchModel, bench_models, no_end_tokens
from tests.benchmarks.common import cli, machine_details, make_ratio, median

TARGET = 1.3
TURNS = 20
LONG_TURN = 10  # 1-based: this turn's reply runs past the sliding window
LONG_REPLY = 160
SHORT_REPLY = 4
WORDS = ("the", "fire", "side", "and", "the", "world", "is", "in", "it", "to", "you", "that", "for", "with",
         "a", "hello", "of")


def _text(n_words: int, offset: int) -> str:
    """Deterministic filler text (common words: mostly one token each in every vocabulary)."""
    return " ".join(WORDS[(offset + i * 7) % len(WORDS)] for i in range(n_words)).capitalize() + "."


SYSTEM = _text(90, 3)  # developer instructions: the first turn evaluates system + this + user


def conversation() -> tuple[list[str], list[str]]:
    """User messages and the canned assistant replies that go into the history after each turn."""
    users = [_text(55, 11 * i) for i in range(TURNS)]
    replies = [_text(125, 5 * i + 1) for i in range(TURNS)]
    return users, replies


def _ttft(engine: LlamaEngine, request: ChatRequest) -> tuple[float, int, int]:
    with no_end_tokens(engine):
        events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    return done.stats.ttft_s, done.stats.prompt_tokens, done.stats.reused_prompt_tokens


def run_model(model: BenchModel, n_ctx: int) -> dict[str, Any]:
    # No shared-prefix store (the default): every prompt here must be evaluated as llama-bench does (or
    # reused only from the KV cache of this conversation), never restored from another chat.
    engine = LlamaEngine()
    engine.load(str(model.path), LoadConfig(n_ctx=n_ctx, n_threads=2))
    cache = engine.cache
    assert cache is not None and engine.info is not None
    sampling = Sampling.for_model(engine.info.is_harmony, seed=7)
    users, replies = conversation()
    history: tuple[Message, ...] = ()
    turns: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        _ttft(engine, ChatRequest(messages=(Message("user", "Hi"),), max_tokens=1, sampling=sampling))  # warm
        cache.clear()
        first_request = last_request = None
        for i in range(TURNS):
            request = ChatRequest(messages=(*history, Message("user", users[i])), system_prompt=SYSTEM,
                                  max_tokens=LONG_REPLY if i + 1 == LONG_TURN else SHORT_REPLY,
                                  sampling=sampling)
            restores = cache.restores
            ttft, n_prompt, reused = _ttft(engine, request)
            turns.append({"turn": i + 1, "prompt_tokens": n_prompt, "reused": reused,
                          "new_tokens": n_prompt - reused, "ttft_s": round(ttft, 4),
                          "checkpoint_restored": cache.restores > restores,
                          "reply_tokens": request.max_tokens})
            print(f"{model.name} turn {i + 1}: {n_prompt} tokens, {reused} reused, TTFT {ttft:.2f} s",
                  file=sys.stderr, flush=True)
            first_request = first_request or request
            last_request = request
            history = (*history, Message("user", users[i]), Message("assistant", replies[i]))
        assert first_request is not None and last_request is not None
        # Full re-evaluation of the last and the first turn, right after the reuse run.
        cache.clear()
        fresh_last = _ttft(engine, last_request)[0]
        cache.clear()
        fresh_first = _ttft(engine, first_request)[0]
    finally:
        engine.unload()
    # The first turn is evaluated from scratch in both modes, and was measured twice (turn 1, and
    # again at the end); the lower of the two is the first-turn time, so a burst of load from
    # other processes during one of them does not flatter (or spoil) the ratios.
    reuse_first = fresh_first = min(turns[0]["ttft_s"], fresh_first)
    reuse_last = turns[-1]["ttft_s"]
    after_long = turns[LONG_TURN]  # the turn right after the long reply
    return {
        "model": model.name, "n_ctx": n_ctx, "turns": turns,
        "total_prompt_tokens": turns[-1]["prompt_tokens"],
        "reuse_first_s": reuse_first, "reuse_last_s": reuse_last,
        "reuse_ratio": reuse_last / reuse_first,
        "fresh_first_s": fresh_first, "fresh_last_s": fresh_last,
        "fresh_ratio": fresh_last / fresh_first,
        "after_long_reply": after_long,
        "median_ttft_s": median([t["ttft_s"] for t in turns]),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run(quick: bool = False, models: list[BenchModel] | None = None, n_ctx: int = 8192,
        model: str | None = None) -> dict[str, Any]:
    """Quick: the tiny model (~5 s). Full: tiny and the 20b shape (~15 min on two shared cores)."""
    if model:
        models = [BenchModel(Path(model).stem, Path(model))]
    if models is None:
        from tests.helpers.tiny_gptoss import cached_tiny_gptoss

        # the default tiny model is trained for 4,096 positions; this conversation is ~4,200
        models = [BenchModel("tiny-gpt-oss", cached_tiny_gptoss(n_ctx_train=8192))]
        models += [m for m in bench_models(quick) if m.name.startswith("gpt-oss-20b")]
    results = [run_model(m, n_ctx) for m in models]
    rows, ratios = [], []
    for r in results:
        al = r["after_long_reply"]
        rows.append({
            "model": r["model"], "conversation tokens": r["total_prompt_tokens"],
            "first TTFT s": round(r["reuse_first_s"], 3), "last TTFT s (reuse)": round(r["reuse_last_s"], 3),
            "last/first (reuse)": round(r["reuse_ratio"], 3),
            "last TTFT s (re-eval)": round(r["fresh_last_s"], 3),
            "last/first (re-eval)": round(r["fresh_ratio"], 3),
            "turn after long reply": f"{al['reused']} reused, restored={al['checkpoint_restored']}",
        })
        ratios.append(make_ratio(f"{r['model']} multi-turn TTFT last/first with KV reuse", r["reuse_ratio"],
                                 TARGET, higher_is_better=False,
                                 detail=f"re-evaluating instead: {r['fresh_ratio']:.2f}; "
                                        f"{r['total_prompt_tokens']} tokens, {TURNS} turns"))
    return {"title": "Multi-turn time to first token (20 turns)", "rows": rows, "ratios": ratios,
            "results": results, "machine": machine_details()}


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0], extra=lambda p: p.add_argument("--model", help="GGUF path"))

