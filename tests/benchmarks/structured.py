"""Structured outputs: generation speed with a JSON Schema against without (target >= 0.8).

Gemma 3 270M (a real model with a 262k vocabulary, so a grammar pass over the whole vocabulary is
as costly as it gets among our models) answers the same prompt without a schema and with two: a
story (long free text in a string, few refused tokens) and a weather record (short fields: key
names, booleans and enums the model is pushed into, so many refused tokens). The sides alternate
(common.alternate) with the same seeds. Without a schema the end-of-generation
tokens are banned so the reply runs to max_tokens, as in every engine benchmark; with one, the
reply ends when the JSON does (the grammar then allows nothing else), so its tokens/s comes from
however many tokens it took. tokens/s is the engine's own figure (after the first token).

Every constrained token costs one grammar check of the sampled token; a refused one is drawn again
after a grammar pass over the tokens it may allow (structured.py). Reported: tokens/s both ways, their
ratio (the median of each round's ratio, both sides of a round having run under the same load).

Run: `python -m tests.benchmarks.structured [--quick] [--reps N] [--max-tokens N]`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import no_end_tokens
from tests.benchmarks.common import alternate, cli, machine_details, make_ratio, median

TARGET = 0.8
SCHEMAS: dict[str, dict[str, Any]] = {
    "story": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "place": {"type": "string"},
            "mood": {"enum": ["happy", "sad", "calm", "tense"]},
            "story": {"type": "string"},
        },
        "required": ["title", "place", "mood", "story"],
    },
    "fields": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "sunny": {"type": "boolean"},
            "rank": {"type": "integer"},
            "unit": {"enum": ["C", "F"]},
            "wind": {"enum": ["calm", "breeze", "storm"]},
        },
        "required": ["city", "sunny", "rank", "unit", "wind"],
        "additionalProperties": False,
    },
}
PROMPTS = {
    "story": "Write a short story about a lighthouse keeper as a JSON object with the fields title, "
             "place, mood and story.",
    "fields": "What is the weather like in Paris today? Reply in JSON.",
}


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
    sides = ("plain", *SCHEMAS)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    rounds = iter(range(10_000))

    def side(name: str, prompt: str) -> float:
        seed = next(rounds) // len(sides)  # every side of a round draws with the same seed
        schema = SCHEMAS.get(name)
        request = ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens,
                              sampling=Sampling.for_model(False, seed=seed), json_schema=schema)
        cpu = time.process_time()
        if schema is None:
            with no_end_tokens(engine):
                done, answer = _reply(engine, request)
        else:
            done, answer = _reply(engine, request)
        cpu = time.process_time() - cpu
        n = done.stats.answer_tokens + done.stats.reasoning_tokens
        samples[name].append({"tokens": n, "tokens_per_s": done.stats.tokens_per_s,
                              "cpu_ms_per_token": 1000 * cpu / max(n, 1),
                              "stop": done.stats.stop_reason, "answer": answer[:160]})
        print(f"{name:6} seed {seed}: {n} tokens, {done.stats.tokens_per_s:.1f} tok/s, "
              f"{done.stats.stop_reason}", file=sys.stderr, flush=True)
        return done.stats.tokens_per_s

    fns = {"plain": functools.partial(side, "plain", PROMPTS["story"])}
    fns.update({name: functools.partial(side, name, PROMPTS[name]) for name in SCHEMAS})
    try:
        for fn in fns.values():  # warm up every path (and the per-model scan of the vocabulary)
            fn()
        rounds = iter(range(10_000))
        for name in sides:
            samples[name].clear()
        speeds = alternate(fns, reps)
    finally:
        engine.unload()
    plain = median(speeds["plain"])
    def cpu_per_token(name: str) -> float:
        return median([s["cpu_ms_per_token"] for s in samples[name]])

    rows = [
        {"model": "gemma-3-270m", "side": name, "median tokens/s": round(median(speeds[name]), 2),
         "median CPU ms/token": round(cpu_per_token(name), 2),
         "median tokens": median([s["tokens"] for s in samples[name]]), "runs": len(samples[name])}
        for name in sides
    ]
    ratios = []
    for name in SCHEMAS:
        # the median of each round's own ratio: both sides of a round saw the same load
        paired = [c / p for c, p in zip(speeds[name], speeds["plain"], strict=True) if p > 0]
        ratios.append(make_ratio(
            f"gemma-3-270m generation tokens/s with a JSON Schema ({name}) / without", median(paired),
            TARGET, detail=f"median of {reps} rounds' ratios; medians {median(speeds[name]):.1f} vs "
                           f"{plain:.1f} tok/s, max {max_tokens} tokens"))
        # CPU time per token (prompt reused from the cache, so nearly all generation): the
        # same comparison, much less disturbed by other processes on a shared machine
        ratios.append(make_ratio(
            f"gemma-3-270m tokens per CPU-second with a JSON Schema ({name}) / without",
            cpu_per_token("plain") / cpu_per_token(name), TARGET,
            detail=f"{cpu_per_token(name):.1f} vs {cpu_per_token('plain'):.1f} CPU ms per token"))
    return {
        "title": "Structured output: tokens/s with a JSON Schema against without",
        "rows": rows, "ratios": ratios, "samples": samples,
        "settings": {"max_tokens": max_tokens, "reps": reps, "schemas": SCHEMAS, "prompts": PROMPTS},
        "machine": machine_details(),
    }


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--reps", type=int, default=0, help="rounds (default: 3 quick, 7 full)")
        parser.add_argument("--max-tokens", type=int, default=0, help="tokens per reply")

    cli(run, __doc__.splitlines()[0], extra=_options)
