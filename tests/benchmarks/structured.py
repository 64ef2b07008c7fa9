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

On the gpt-oss-20b shape (tests/benchmarks/shape20b.py: the real tensor list and a 201k
vocabulary, random weights) and the tiny gpt-oss, the reply is forced through a short analysis
into the final channel (HARMONY_PREFIX), as gpt-oss answers; the grammar starts there, and the
speed compared is the answer's own (first to last answer token), so the forced prefix does not
dilute it. Without a schema end tokens are banned there too.

Run: `python -m tests.benchmarks.structured [--quick] [--reps N] [--max-tokens N]
[--model gemma|tiny|shape20b ...]`. The 20b shape is measured only if its file is already
cached (`python -m tests.benchmarks.shape20b` writes it once, ~12 GB, then e.g.
`python -m tests.benchmarks.structured --model shape20b --reps 5 --max-tokens 96`).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import eog_tokens, no_end_tokens
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


MODELS = ("gemma", "tiny", "shape20b")
MODEL_NAMES = {"gemma": "gemma-3-270m", "tiny": "tiny-gpt-oss", "shape20b": "gpt-oss-20b-shape"}
# gpt-oss reasons first and the grammar starts at the final answer. The shape and tiny models have
# random weights, so they never write a harmony header themselves: every reply is forced (the
# tests' forcing sampler) through a short analysis into the final channel, on both sides alike.
HARMONY_PREFIX = ("<|channel|>analysis<|message|>The user wants JSON.<|end|>"
                  "<|start|>assistant<|channel|>final<|message|>")


class HarmonySides:
    """Sampler factory for the harmony models: the forced prefix, then the reply's own chain; on
    the side without a schema, end tokens are banned first so it runs to max_tokens."""

    def __init__(self) -> None:
        from tests.helpers.forcing import ForcingSampler

        self.forcing = ForcingSampler()
        self.ban: list[int] = []
        self.n_vocab = 0

    def __call__(self, sampling: Sampling) -> llama_cpp.llama_sampler_p:
        inner = self.forcing(sampling)
        if not self.ban:
            return inner
        biases = (llama_cpp.llama_logit_bias * len(self.ban))()
        for i, t in enumerate(self.ban):
            biases[i].token, biases[i].bias = t, -float("inf")
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(
            chain, llama_cpp.llama_sampler_init_logit_bias(self.n_vocab, len(self.ban), biases))
        llama_cpp.llama_sampler_chain_add(chain, inner)
        return chain


def model_path(model: str) -> Path | None:
    """The model file; for the 20b shape only when it is already cached (it is never built here:
    `python -m tests.benchmarks.shape20b` writes its 12 GB once)."""
    if model == "gemma":
        from tests.helpers.gemma import cached_gemma

        return cached_gemma()
    if model == "tiny":
        from tests.helpers.tiny_gptoss import cached_tiny_gptoss

        return cached_tiny_gptoss()
    from tests.benchmarks.shape20b import shape20b_path

    path = shape20b_path()
    return path if path.is_file() else None


def _reply(engine: LlamaEngine, request: ChatRequest) -> tuple[Done, str, float]:
    """The reply's Done, its answer, and the answer's own tokens/s (first to last answer token,
    timed here: for harmony models, the part a grammar constrains)."""
    events: list[Event] = []
    stamps: list[float] = []
    for event in engine.stream(request):
        events.append(event)
        if isinstance(event, AnswerDelta):
            stamps.append(time.perf_counter())
    done = events[-1]
    assert isinstance(done, Done)
    n = len(stamps)
    answer_rate = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else 0.0
    return done, "".join(e.text for e in events if isinstance(e, AnswerDelta)), answer_rate


def measure(model: str, path: Path, max_tokens: int, reps: int) -> dict[str, Any]:
    """Both sides on one model, alternated; rows, ratios and samples for it."""
    name = MODEL_NAMES[model]
    harmony = model != "gemma"
    sides_factory = HarmonySides() if harmony else None
    engine = LlamaEngine(sampler_factory=sides_factory)
    engine.load(str(path), LoadConfig(n_ctx=1024, n_threads=2))
    sides = ("plain", *SCHEMAS)
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    rounds = iter(range(10_000))
    if sides_factory is not None:
        sides_factory.n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)

    def side(side_name: str, prompt: str) -> float:
        seed = next(rounds) // len(sides)  # every side of a round draws with the same seed
        schema = SCHEMAS.get(side_name)
        request = ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens,
                              sampling=Sampling.for_model(harmony, seed=seed), json_schema=schema)
        if sides_factory is not None:
            sides_factory.forcing.force_text(engine, HARMONY_PREFIX)
            sides_factory.ban = eog_tokens(engine) if schema is None else []
        cpu = time.process_time()
        if schema is None and sides_factory is None:
            with no_end_tokens(engine):
                done, answer, answer_rate = _reply(engine, request)
        else:
            done, answer, answer_rate = _reply(engine, request)
        cpu = time.process_time() - cpu
        if sides_factory is not None:
            assert not sides_factory.forcing.errors, sides_factory.forcing.errors
        n = done.stats.answer_tokens + done.stats.reasoning_tokens
        speed = answer_rate if harmony else done.stats.tokens_per_s
        samples[side_name].append({"tokens": n, "answer_tokens": done.stats.answer_tokens,
                                   "tokens_per_s": speed, "engine_tokens_per_s": done.stats.tokens_per_s,
                                   "cpu_ms_per_token": 1000 * cpu / max(n, 1),
                                   "stop": done.stats.stop_reason, "answer": answer[:160]})
        print(f"{name} {side_name:6} seed {seed}: {n} tokens, {speed:.1f} tok/s, "
              f"{done.stats.stop_reason}", file=sys.stderr, flush=True)
        return speed

    fns = {"plain": functools.partial(side, "plain", PROMPTS["story"])}
    fns.update({s: functools.partial(side, s, PROMPTS[s]) for s in SCHEMAS})
    try:
        for fn in fns.values():  # warm up every path (and the per-model scan of the vocabulary)
            fn()
        rounds = iter(range(10_000))
        for s in sides:
            samples[s].clear()
        speeds = alternate(fns, reps)
    finally:
        engine.unload()
    plain = median(speeds["plain"])

    def cpu_per_token(s: str) -> float:
        return median([x["cpu_ms_per_token"] for x in samples[s]])

    what = "answer tokens/s (after the final channel's header)" if harmony else "generation tokens/s"
    rows = [
        {"model": name, "side": s, "median tokens/s": round(median(speeds[s]), 2),
         "speed of": "the answer" if harmony else "the reply",
         "median CPU ms/token": round(cpu_per_token(s), 2),
         "median tokens": median([x["tokens"] for x in samples[s]]), "runs": len(samples[s])}
        for s in sides
    ]
    ratios = []
    for s in SCHEMAS:
        # the median of each round's own ratio: both sides of a round saw the same load
        paired = [c / p for c, p in zip(speeds[s], speeds["plain"], strict=True) if p > 0]
        ratios.append(make_ratio(
            f"{name} {what} with a JSON Schema ({s}) / without", median(paired), TARGET,
            detail=f"median of {reps} rounds' ratios; medians {median(speeds[s]):.1f} vs "
                   f"{plain:.1f} tok/s, max {max_tokens} tokens"))
        # CPU time per token (prompt reused from the cache, so nearly all generation): the
        # same comparison, much less disturbed by other processes on a shared machine
        ratios.append(make_ratio(
            f"{name} tokens per CPU-second with a JSON Schema ({s}) / without",
            cpu_per_token("plain") / cpu_per_token(s), TARGET,
            detail=f"{cpu_per_token(s):.1f} vs {cpu_per_token('plain'):.1f} CPU ms per token"
                   + ("; the forced prefix counted on both sides" if harmony else "")))
    return {"rows": rows, "ratios": ratios, "samples": samples}


def run(quick: bool = False, max_tokens: int = 0, reps: int = 0,
        models: tuple[str, ...] = ()) -> dict[str, Any]:
    """Quick: 3 rounds of 64 tokens on Gemma (~20 s). Full: 7 rounds of 160 tokens on Gemma, and
    on the gpt-oss-20b shape when its file is already cached (see model_path)."""
    max_tokens = max_tokens or (64 if quick else 160)
    reps = reps or (3 if quick else 7)
    models = models or (("gemma",) if quick else ("gemma", "shape20b"))
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    skipped: list[str] = []
    for model in models:
        path = model_path(model)
        if path is None:
            skipped.append(f"{MODEL_NAMES[model]}: not cached (python -m tests.benchmarks.shape20b "
                           "builds it, ~12 GB), so not measured")
            continue
        result = measure(model, path, max_tokens, reps)
        rows += result["rows"]
        ratios += result["ratios"]
        samples[MODEL_NAMES[model]] = result["samples"]
    out: dict[str, Any] = {
        "title": "Structured output: tokens/s with a JSON Schema against without",
        "rows": rows, "ratios": ratios, "samples": samples,
        "settings": {"max_tokens": max_tokens, "reps": reps, "models": list(models),
                     "schemas": SCHEMAS, "prompts": PROMPTS, "harmony_prefix": HARMONY_PREFIX},
        "machine": machine_details(),
    }
    if skipped:
        out["note"] = "; ".join(skipped)
    return out


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--reps", type=int, default=0, help="rounds (default: 3 quick, 7 full)")
        parser.add_argument("--max-tokens", type=int, default=0, help="tokens per reply")
        parser.add_argument("--model", dest="models", action="append", choices=MODELS, default=[],
                            help="gemma, tiny or shape20b (repeatable; default: gemma, and shape20b "
                                 "in full mode when cached)")

    def _run(models: list[str], **kw: Any) -> dict[str, Any]:
        return run(models=tuple(models), **kw)

    cli(_run, __doc__.splitlines()[0], extra=_options)
