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
The 20b shape (a 12 GB file that takes minutes to build) is not measured here.

tokens/s is the engine's own figure (generated tokens after the first ÷ the time between first and
last), i.e. the effective rate a reader sees. Ratios are the median of each round's own ratio.

Run: `python -m tests.benchmarks.speculative [--quick] [--reps N] [--max-tokens N]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

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


def _reply(engine: LlamaEngine, request: ChatRequest, speculative: bool) -> tuple[Done, str]:
    # one engine for both sides, so both reuse the same cached prompt; only the switch differs
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
        done, text = _reply(engine, request, spec)
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
        paired = [w / o for w, o in zip(speeds["with"], speeds["without"], strict=True) if o > 0]
        spec_runs = [s for s in samples[name] if s["speculative"]]
        drafted = sum(s["drafted"] for s in spec_runs)
        accepted = sum(s["accepted"] for s in spec_runs)
        rows.append({"case": label, "prompt tokens": spec_runs[0]["prompt_tokens"] if spec_runs else 0,
                     "tok/s with": round(median(speeds["with"]), 2),
                     "tok/s without": round(median(speeds["without"]), 2),
                     "drafted": drafted, "accepted": accepted,
                     "acceptance": round(accepted / drafted, 3) if drafted else 0.0,
                     "greedy output identical": identical})
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


if __name__ == "__main__":
    def _options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--reps", type=int, default=0, help="rounds (default: 2 quick, 5 full)")
        parser.add_argument("--max-tokens", type=int, default=0, help="tokens per reply")

    cli(run, __doc__.splitlines()[0], extra=_options)
