"""Speculative (prompt-lookup) decoding: generation tokens/s with speculation ÷ without.

Two cases, each side alternating (common.alternate) on one loaded engine whose prompt stays in
the KV cache, so the figures are generation alone:
- copying: Gemma 3 270M repeats a ~1,500-token text given in the prompt (docs/ARCHITECTURE.md's
  first part), greedy. Target ≥ 1.5. Also reported: whether the greedy output was identical with
  and without speculation, and the drafted/accepted counts.
- worst case: the tiny gpt-oss GGUF (random weights) writes from a short prompt with nothing to
  copy, (a) sampling at temperature 1 (greedy on random weights loops, and loops get copied), and
  (b) greedy, with every draft made of a token greedy never picks (a control token, whose logit
  is 0 in the tiny model): each draft is rejected, the cost of drafting alone. Target ≥ 0.97 (the
  adaptive back-off at work).
The 20b shape (`--model shape20b`, only when its 12 GB file is already cached): random weights at
temperature 1 (target ≥ 0.97) and forced acceptance of 4 drafts a pass (target ≥ 2); run_shape20b.

tokens/s is the engine's own figure (generated tokens after the first ÷ the time between first and
last), i.e. the effective rate a reader sees. Ratios are the median of each round's own ratio.

The sweep of acceptance (`--case sweep`, tests/benchmarks/speculative_sweep.py): speed ÷ plain at
0..4 of 4 drafts accepted a pass, for the plot in docs/performance/speculative-acceptance.png.

Run: `python -m tests.benchmarks.speculative [--quick] [--reps N] [--max-tokens N]
[--model small|shape20b] [--case random|forced]`, or `--case sweep --model gemma|tiny|shape20b
[--natural] --out FILE.json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import llama_cpp

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta
from fireside.core.engine import speculative
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.common import alternate, cli, machine_details, make_ratio, median

ROOT = Path(__file__).resolve().parents[2]
COPY_TARGET = 1.5
WORST_TARGET = 0.97


def _copy_text(chars: int) -> str:
    return (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")[:chars]


def reply(engine: LlamaEngine, request: ChatRequest, speculative: bool) -> tuple[Done, str]:
    """One reply with speculation on or off and its text. One engine serves both sides, so both
    reuse the same cached prompt; only the switch differs."""
    engine._config = replace(engine._config, speculative=speculative)
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    return done, "".join(e.text for e in events if isinstance(e, ReasoningDelta | AnswerDelta))


def _case(name: str, engine: LlamaEngine, request: ChatRequest, reps: int,
          samples: list[dict[str, Any]]) -> tuple[dict[str, list[float]], bool]:
    texts: dict[bool, set[str]] = {True: set(), False: set()}

    def side(spec: bool) -> float:
        cpu = time.process_time()
        done, text = reply(engine, request, spec)
        cpu = time.process_time() - cpu
        s = done.stats
        texts[spec].add(text)
        samples.append({"case": name, "speculative": spec, "tokens": s.answer_tokens + s.reasoning_tokens,
                        "tokens_per_s": s.tokens_per_s, "drafted": s.drafted_tokens,
                        "accepted": s.accepted_tokens, "prompt_tokens": s.prompt_tokens,
                        "cpu_ms_per_token": 1000 * cpu / max(1, s.answer_tokens + s.reasoning_tokens)})
        print(f"{name} spec={spec}: {s.tokens_per_s:.1f} tok/s, drafted {s.drafted_tokens}, "
              f"accepted {s.accepted_tokens}", file=sys.stderr, flush=True)
        return s.tokens_per_s

    side(False)  # warm up: the prompt goes into the cache
    samples.clear()
    speeds = alternate({"with": lambda: side(True), "without": lambda: side(False)}, reps)
    return speeds, texts[True] == texts[False] and len(texts[True]) == 1


def _row(label: str, speeds: dict[str, list[float]], case_samples: list[dict[str, Any]],
         identical: bool | None) -> tuple[dict[str, Any], list[float]]:
    """A case's table row (median speeds, drafted and accepted totals), and each round's ratio of
    tokens/s with speculation to without."""
    paired = [w / o for w, o in zip(speeds["with"], speeds["without"], strict=True) if o > 0]
    spec_runs = [s for s in case_samples if s["speculative"]]
    drafted = sum(s["drafted"] for s in spec_runs)
    accepted = sum(s["accepted"] for s in spec_runs)
    return {"case": label, "prompt tokens": spec_runs[0]["prompt_tokens"] if spec_runs else 0,
            "tok/s with": round(median(speeds["with"]), 2),
            "tok/s without": round(median(speeds["without"]), 2),
            "drafted": drafted, "accepted": accepted,
            "acceptance": round(accepted / drafted, 3) if drafted else 0.0,
            "greedy output identical": identical}, paired


def run(quick: bool = False, max_tokens: int = 0, reps: int = 0) -> dict[str, Any]:
    """Quick: 2 rounds of 48 tokens on a shorter text. Full: 5 rounds of 200 tokens."""
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    max_tokens = max_tokens or (48 if quick else 200)
    reps = reps or (2 if quick else 5)
    greedy = Sampling.greedy()
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    samples: dict[str, list[dict[str, Any]]] = {"copy": [], "worst": []}
    cases = {
        "copy": (cached_gemma(), LoadConfig(n_ctx=4096, n_batch=512, n_threads=2),
                 "Repeat this text exactly, from its first word to its last:\n\n"
                 + _copy_text(1500 if quick else 6000) + "\n\nThe text again, exactly:",
                 COPY_TARGET, "gemma-3-270m copying a text from the prompt"),
        "worst": (cached_tiny_gptoss(), LoadConfig(n_ctx=2048, n_batch=64, n_threads=2),
                  "Write a poem about the sea.", WORST_TARGET,
                  "tiny gpt-oss (random weights) at temperature 1, nothing to copy"),
        "rejected": (cached_tiny_gptoss(), LoadConfig(n_ctx=2048, n_batch=64, n_threads=2),
                     "Write a poem about the sea.", WORST_TARGET,
                     "tiny gpt-oss, greedy, every draft rejected"),
    }
    samples["rejected"] = []
    for name, (path, load, prompt, target, label) in cases.items():
        engine = LlamaEngine()
        engine.load(str(path), load)
        sampling = Sampling.for_model(True, seed=7) if name == "worst" else greedy
        request = ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens * 4,
                              sampling=sampling)
        if name == "copy":
            request = replace(request, max_tokens=max_tokens)
        original = speculative.Drafter.draft
        if name == "rejected":
            bad = engine.tokenize("<|reserved_200000|>", add_special=False)
            assert len(bad) == 1, bad
            speculative.Drafter.draft = lambda self, k, bad=bad: bad * k  # type: ignore[method-assign]
        try:
            speeds, identical = _case(name, engine, request, reps, samples[name])
        finally:
            speculative.Drafter.draft = original  # type: ignore[method-assign]
            engine.unload()
        row, paired = _row(label, speeds, samples[name], identical)
        drafted, accepted = row["drafted"], row["accepted"]
        rows.append(row)
        cpu = {spec: median([s["cpu_ms_per_token"] for s in samples[name] if s["speculative"] == spec])
               for spec in (True, False)}
        ratios.append(make_ratio(
            f"{label}: tokens per CPU-second with speculation / without", cpu[False] / cpu[True],
            target, detail=f"{cpu[True]:.2f} vs {cpu[False]:.2f} CPU ms per token (less disturbed "
                           "by other processes on a shared machine)"))
        ratios.append(make_ratio(
            f"{label}: generation tokens/s with speculation / without", median(paired), target,
            detail=f"median of {reps} rounds' ratios, {max_tokens} tokens; greedy output "
                   f"{'identical' if identical else 'DIFFERENT'}; accepted {accepted} of {drafted}"))
    return {"title": "Speculative decoding: tokens/s with prompt-lookup drafts against without",
            "rows": rows, "ratios": ratios, "samples": samples,
            "settings": {"max_tokens": max_tokens, "reps": reps},
            "machine": machine_details()}


# ------------------------------------------------------------------ the gpt-oss-20b shape
FORCED_K = 4  # drafts per pass in the forced-acceptance case (issue 15's "4 accepted drafts")
FORCED_TARGET = 2.0


def _recording_draft(recorded: list[int]) -> Callable[[speculative.Drafter, int], list[int]]:
    """A draft that proposes nothing (so decoding is plain) and remembers every token seen."""
    def draft(self: speculative.Drafter, k: int) -> list[int]:
        recorded[:] = self._tokens
        return []
    return draft


class _Agreeing:
    """Stands in for llama_cpp inside core/engine/speculative.py: the sampler still runs on every
    position of the verified batch (its cost is kept), but answers the draft's own token where
    there is one, so every draft is accepted. On the 20b shape greedy decoding is not stable under
    batching (random weights: llama.cpp's batched rows differ slightly from single-token ones and
    the argmax flips), so drafts copied from a plain run would be rejected after a token or two."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.drafts: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def llama_sampler_sample(self, sampler: Any, ctx: Any, i: int) -> int:
        token = int(self._real.llama_sampler_sample(sampler, ctx, i))
        return self.drafts[i] if i < len(self.drafts) else token


def _forced_draft(reference: list[int], agreeing: _Agreeing
                  ) -> Callable[[speculative.Drafter, int], list[int]]:
    """FORCED_K drafts a pass, taken from a plain reply's tokens at the same positions (ordinary
    tokens, so the harmony parser sees text), all accepted (_Agreeing): what is measured is the
    cost of verifying FORCED_K drafts in one batch."""
    def draft(self: speculative.Drafter, k: int) -> list[int]:
        n = len(self._tokens)
        agreeing.drafts = reference[n:n + min(k, FORCED_K)]
        return agreeing.drafts
    return draft


def run_shape20b(max_tokens: int = 64, reps: int = 4,
                 cases: tuple[str, ...] = ("random", "forced")) -> dict[str, Any]:
    """The gpt-oss-20b shape (tests/benchmarks/shape20b.py; only when its 12 GB file is already
    cached, it is never built here), one engine, two cases alternating with and without:
    - random weights, temperature 1, end tokens banned: nothing to copy, so the adaptive cut-off
      is what is measured (target >= 0.97);
    - greedy with forced acceptance: FORCED_K drafts a pass, every one accepted (_Agreeing), so
      each pass emits FORCED_K + 1 tokens (target >= 2x plain); the text then differs from plain
      decoding by construction.
    `cases` picks some of them (`--case`)."""
    from tests.benchmarks.bench_models import no_end_tokens
    from tests.benchmarks.shape20b import shape20b_path

    path = shape20b_path()
    if not path.is_file():
        raise SystemExit("The 20b shape is not cached: python -m tests.benchmarks.shape20b builds "
                         "it (~12 GB).")
    prompt = "Write a poem about the sea."
    engine = LlamaEngine()
    t0 = time.perf_counter()
    engine.load(str(path), LoadConfig(n_ctx=2048, n_batch=512, n_threads=2))
    load_s = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    samples: dict[str, list[dict[str, Any]]] = {"random": [], "forced": []}
    original = speculative.Drafter.draft
    speeds_of: dict[str, dict[str, list[float]]] = {}
    try:
        random_request = ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens,
                                     sampling=Sampling.for_model(True, seed=7))
        if "random" in cases:
            with no_end_tokens(engine):
                speeds_of["random"], _ = _case("random", engine, random_request, reps,
                                               samples["random"])
        greedy = ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens,
                             sampling=Sampling.greedy())
        if "forced" in cases:
            recorded: list[int] = []
            speculative.Drafter.draft = _recording_draft(recorded)  # type: ignore[method-assign]
            reply(engine, greedy, True)
            agreeing = _Agreeing(speculative.llama_cpp)
            speculative.Drafter.draft = _forced_draft(list(recorded), agreeing)  # type: ignore[method-assign]
            speculative.llama_cpp = agreeing  # type: ignore[assignment]
            speeds_of["forced"], _ = _case("forced", engine, greedy, reps, samples["forced"])
    finally:
        speculative.Drafter.draft = original  # type: ignore[method-assign]
        speculative.llama_cpp = llama_cpp
        engine.unload()
    labels = {"random": (WORST_TARGET, "20b shape (random weights) at temperature 1, nothing to copy"),
              "forced": (FORCED_TARGET, f"20b shape, greedy, forced acceptance ({FORCED_K} drafts a pass)")}
    for name, speeds in speeds_of.items():
        target, label = labels[name]
        same = None
        row, paired = _row(label, speeds, samples[name], same)
        drafted, accepted = row["drafted"], row["accepted"]
        rows.append(row)
        ratios.append(make_ratio(
            f"{label}: generation tokens/s with speculation / without", median(paired), target,
            detail=f"median of {reps} rounds' ratios, {max_tokens} tokens; accepted {accepted} of "
                   f"{drafted}" + ("" if same is None else
                                   f"; greedy output {'identical' if same else 'DIFFERENT'}")))
    return {"title": "Speculative decoding on the gpt-oss-20b shape", "rows": rows, "ratios": ratios,
            "samples": samples, "model_load_s": load_s,
            "settings": {"max_tokens": max_tokens, "reps": reps, "forced_k": FORCED_K,
                         "cases": list(speeds_of)},
            "machine": machine_details()}


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--reps", type=int, default=0, help="rounds (default: 2 quick, 5 full)")
        parser.add_argument("--max-tokens", type=int, default=0, help="tokens per reply")
        parser.add_argument("--model", choices=("small", "gemma", "tiny", "shape20b"), default="small",
                            help="small: Gemma and the tiny gpt-oss (the suite's section; for --case "
                                 "sweep, both); gemma, tiny: one of them (--case sweep only); "
                                 "shape20b: the gpt-oss-20b shape, if cached")
        parser.add_argument("--case", dest="cases", action="append", default=[],
                            choices=("random", "forced", "sweep"),
                            help="shape20b: only these cases (repeatable; default random and "
                                 "forced); sweep: speed against drafts accepted per pass "
                                 "(speculative_sweep.py), any model")
        parser.add_argument("--natural", action="store_true",
                            help="sweep: let the sampler decide acceptance instead of forcing it")
        parser.add_argument("--threads", type=int, default=0,
                            help="sweep: llama.cpp threads (default 2)")

    def _run(model: str, quick: bool, max_tokens: int, reps: int, cases: list[str],
             natural: bool, threads: int) -> dict[str, Any]:
        if "sweep" in cases:
            if len(cases) > 1:
                print("--case sweep runs alone.", file=sys.stderr)
                raise SystemExit(2)
            from tests.benchmarks.speculative_sweep import run_sweeps
            models = ("gemma", "tiny") if model == "small" else (model,)
            return run_sweeps(models, max_tokens or (16 if quick else 64), reps or (2 if quick else 5),
                              force=not natural, threads=threads)
        if model in ("gemma", "tiny") or natural or threads:
            print("--model gemma or tiny, --natural and --threads are for --case sweep.",
                  file=sys.stderr)
            raise SystemExit(2)
        if model == "shape20b":
            return run_shape20b(max_tokens or 64, reps or 4, tuple(cases) or ("random", "forced"))
        return run(quick, max_tokens, reps)

    cli(_run, __doc__.splitlines()[0], extra=_options)
