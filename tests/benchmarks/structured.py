"""Structured outputs: generation speed with a JSON Schema against without (target >= 0.8).

Gemma 3 270M (a real model with a 262k vocabulary, so a grammar pass over the whole vocabulary is
as costly as it gets among our models) answers the same prompt with and without a schema, the two
sides alternating (common.alternate) with the same seeds. Without a schema the end-of-generation
tokens are banned so the reply runs to max_tokens, as in every engine benchmark; with one, the
reply ends when the JSON does (the grammar then allows nothing else), so its tokens/s comes from
however many tokens it took. tokens/s is the engine's own figure (after the first token).

Every constrained token costs one grammar check of the sampled token; a refused one is drawn again
after a grammar pass over the whole vocabulary (structured.py). Reported: tokens/s both ways, their
ratio, and how many tokens were drawn again.

Run: `python -m tests.benchmarks.structured [--quick]`.
"""

from __future__ import annotations

import sys
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import no_end_tokens
from tests.benchmarks.common import alternate, cli, machine_details, make_ratio, median

TARGET = 0.8
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "place": {"type": "string"},
        "mood": {"enum": ["happy", "sad", "calm", "tense"]},
        "story": {"type": "string"},
    },
    "required": ["title", "place", "mood", "story"],
}
PROMPT = ("Write a short story about a lighthouse keeper as a JSON object with the fields title, "
          "place, mood and story.")


def _reply(engine: LlamaEngine, request: ChatRequest) -> tuple[Done, str]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    return done, "".join(e.text for e in events if isinstance(e, AnswerDelta))


def run(quick: bool = False, max_tokens: int = 0, reps: int = 0) -> dict[str, Any]:
    """Quick: 3 rounds of 64 tokens (~20 s). Full: 7 rounds of 160 tokens."""
    from tests.helpers.gemma import cached_gemma

    max_tokens = max_tokens or (64 if quick else 160)
    reps = reps or (3 if quick else 7)
    engine = LlamaEngine()
    engine.load(str(cached_gemma()), LoadConfig(n_ctx=1024, n_threads=2))
    samples: dict[str, list[dict[str, Any]]] = {"plain": [], "schema": []}
    seeds = iter(range(10_000))

    def side(schema: dict[str, Any] | None) -> float:
        seed = next(seeds) // 2  # both sides of a round draw with the same seed
        request = ChatRequest(messages=(Message("user", PROMPT),), max_tokens=max_tokens,
                              sampling=Sampling.for_model(False, seed=seed), json_schema=schema)
        if schema is None:
            with no_end_tokens(engine):
                done, answer = _reply(engine, request)
        else:
            done, answer = _reply(engine, request)
        n = done.stats.answer_tokens + done.stats.reasoning_tokens
        samples["schema" if schema else "plain"].append(
            {"tokens": n, "tokens_per_s": done.stats.tokens_per_s, "stop": done.stats.stop_reason,
             "answer": answer[:160]})
        print(f"{'schema' if schema else 'plain '} seed {seed}: {n} tokens, "
              f"{done.stats.tokens_per_s:.1f} tok/s, {done.stats.stop_reason}", file=sys.stderr, flush=True)
        return done.stats.tokens_per_s

    try:
        side(None)  # warm up both paths (and the per-model scan of control tokens)
        side(SCHEMA)
        for k in samples:
            samples[k].clear()
        speeds = alternate({"plain": lambda: side(None), "schema": lambda: side(SCHEMA)}, reps)
    finally:
        engine.unload()
    plain, constrained = median(speeds["plain"]), median(speeds["schema"])
    value = constrained / plain if plain else float("nan")
    rows = [
        {"model": "gemma-3-270m", "side": name, "median tokens/s": round(median(speeds[name]), 2),
         "median tokens": median([s["tokens"] for s in samples[name]]), "runs": len(samples[name])}
        for name in ("plain", "schema")
    ]
    return {
        "title": "Structured output: tokens/s with a JSON Schema against without",
        "rows": rows,
        "ratios": [make_ratio("gemma-3-270m generation tokens/s with a JSON Schema / without", value,
                              TARGET, detail=f"{constrained:.1f} vs {plain:.1f} tok/s, {reps} rounds, "
                                             f"max {max_tokens} tokens")],
        "samples": samples, "settings": {"max_tokens": max_tokens, "reps": reps, "schema": SCHEMA},
        "machine": machine_details(),
    }


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])
