"""The local API server as agents and editors use it, and against llama-cpp-python's own server.

1. Agent conversation: 20 turns through `/v1/chat/completions`, the whole conversation resent on
   every request as agents do (system prompt, every observation, every reply so far). Time to
   first token of the last request / the first (target <= 1.3): the KV prefix must be reused
   across requests, so each request costs its new tokens, not the whole history. Each round uses
   its own system prompt, so no round starts from another's cache; medians over rounds.
   `--model tiny` runs it on the tiny gpt-oss (harmony, sliding window of 4): its random weights
   write no channel header, so each reply is forced into the final channel first
   (structured.HARMONY_PREFIX) and the first answer delta is timed as on Gemma. `--model shape20b`
   runs it on the gpt-oss-20b shape (random weights too, so forced the same way; only when its
   12 GB file is already built by shape20b.py; one conversation of 20 requests takes ~5 minutes).
2. Peer: Fireside's server against `python -m llama_cpp.server` (the `llama-cpp-python[server]`
   extra, the same wheel) on the same GGUF, threads and context, each on 127.0.0.1 with the other
   stopped, alternating rounds: streaming tokens/s (first to last content delta; target: Fireside
   >= llama_cpp.server, ratio >= 1.0) and time to first token. End-of-generation and control
   tokens are banned on both (Fireside's sampler chain; a -100 logit_bias on the peer) so every
   reply runs to max_tokens.

Both drive the servers with the official `openai` client in a process of its own
(api_client_child.py). Model: Gemma 3 270M. Run: `python -m tests.benchmarks.api_peers [--quick]
[--only agent|peer] [--model gemma|tiny]` (the model of the agent part).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp

from fireside.core.admin.policy import load_policy
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.server.app import ServerOptions
from fireside.server.models import InstalledModels
from fireside.server.standalone import start_standalone
from tests.benchmarks.bench_models import control_tokens, eog_tokens, no_end_tokens
from tests.benchmarks.common import (
    alternate,
    cli,
    machine_details,
    make_ratio,
    median,
    throwaway_prefix_store,
)
from tests.benchmarks.structured import HARMONY_PREFIX, HarmonySides

AGENT_TARGET = 1.3
PEER_TARGET = 1.0
KEY = "fs-bench"
N_CTX = 4096
TINY_N_CTX = 8192
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Tell me a long story about a lighthouse keeper and the ships she guides home."


def _observation(turn: int) -> str:
    """What an agent's tool saw at this turn: ~90 tokens of listing, different every turn."""
    files = " ".join(f"src/module_{turn}_{k}.py:{(turn * 37 + k * 11) % 400} lines" for k in range(8))
    return f"Step {turn}. The build tool ran. Files changed: {files}. What next?"


class Client:
    """The openai client in its own process: one request body in, {ttft_s, tokens_per_s, text} out."""

    def __init__(self, url: str, key: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.api_client_child",
                                      url, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(body) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark's API client stopped")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


@contextmanager
def fireside_server(path: Path, threads: int, ban_control: bool = False,
                    sides: HarmonySides | None = None, n_ctx: int = N_CTX,
                    ) -> Iterator[tuple[str, LlamaEngine]]:
    """The server on `path`; end tokens banned (and control tokens too with `ban_control`, so a
    reply cannot end on a turn marker either: the peer's comparison runs to max_tokens). With
    `sides` (gpt-oss with random weights), replies are sampled through it, end tokens banned."""
    # as `fireside serve` builds it: with the shared-prefix store
    engine = LlamaEngine(sampler_factory=sides, prefix_store=throwaway_prefix_store())
    engine.load(str(path), LoadConfig(n_ctx=n_ctx, n_threads=threads))
    if sides is not None:
        sides.n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)
        sides.ban = eog_tokens(engine)
    policy = load_policy([])
    served = start_standalone(engine, InstalledModels(policy, lambda: [], Path("."), (str(path),)),
                              ServerOptions(key=KEY), policy=policy, store=None)
    try:
        if sides is not None:
            yield served.url, engine
        else:
            with no_end_tokens(engine, control_tokens(engine) if ban_control else None):
                yield served.url, engine
    finally:
        served.stop()
        engine.unload()


def agent_rounds(client: Client, turns: int, reply_tokens: int, rounds: int,
                 usage: list[dict[str, Any]] | None = None,
                 before: Callable[[], None] = lambda: None, label: str = "Session"
                 ) -> list[list[float]]:
    """TTFT of every request, per round: each round one conversation of `turns` requests
    (`usage` collects each request's prompt and reused tokens; `before` runs before each; `label`
    starts each round's own system prompt)."""
    out = []
    for r in range(rounds):
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"{label} {r}: you are a build agent. Say the next step."},
        ]
        ttfts = []
        for turn in range(1, turns + 1):
            messages.append({"role": "user", "content": _observation(turn)})
            before()
            result = client.ask({"model": "", "messages": messages, "max_tokens": reply_tokens,
                                 "seed": 1, "temperature": 0.0,
                                 "stream_options": {"include_usage": True}})
            ttfts.append(float(result["ttft_s"]))
            if usage is not None:
                usage.append({"turn": turn, "prompt_tokens": result.get("prompt_tokens", 0),
                              "cached_tokens": result.get("cached_tokens", 0)})
            messages.append({"role": "assistant", "content": result["text"]})
        out.append(ttfts)
    return out


def run_agent(path: Path, threads: int, quick: bool, rows: list[dict[str, Any]],
              ratios: list[dict[str, Any]], harmony: bool = False,
              rounds: int = 0) -> dict[str, Any]:
    turns, reply_tokens = 20, (48 if harmony else 24)
    rounds = rounds or (2 if quick else 5)
    sides = HarmonySides() if harmony else None
    # the tiny model's byte-level vocabulary makes the 20 turns ~6,000 tokens
    n_ctx = TINY_N_CTX if harmony else N_CTX
    with fireside_server(path, threads, sides=sides, n_ctx=n_ctx) as (url, engine):
        def force() -> None:
            if sides is not None:
                sides.forcing.force_text(engine, HARMONY_PREFIX)
        client = Client(url, KEY)
        try:
            # warm up server and client, with a system prompt no measured round starts with:
            # round 1's first request must not find its prompt in the cache
            agent_rounds(client, 2, reply_tokens, 1, before=force, label="Warm-up")
            usage: list[dict[str, Any]] = []
            per_round = agent_rounds(client, turns, reply_tokens, rounds, usage, before=force)
        finally:
            client.close()
        if sides is not None:
            assert not sides.forcing.errors, sides.forcing.errors
    first, last = median([t[0] for t in per_round]), median([t[-1] for t in per_round])
    for k in range(turns):
        rows.append({"part": "agent", "turn": k + 1,
                     "median ttft ms": round(median([t[k] for t in per_round]) * 1000, 1),
                     "prompt tokens": usage[k]["prompt_tokens"],
                     "reused tokens": usage[k]["cached_tokens"]})
    new_first = usage[0]["prompt_tokens"] - usage[0]["cached_tokens"]
    new_last = usage[turns - 1]["prompt_tokens"] - usage[turns - 1]["cached_tokens"]
    model = f"{path.stem}: " if harmony else ""
    ratios.append(make_ratio(f"{model}Agent conversation resent whole: TTFT of request {turns} / "
                             "request 1",
                             last / first, AGENT_TARGET, higher_is_better=False,
                             detail=f"{last * 1000:.0f} vs {first * 1000:.0f} ms, median of "
                                    f"{rounds} conversations, {reply_tokens}-token replies; "
                                    f"request {turns}: {usage[turns - 1]['prompt_tokens']} prompt "
                                    f"tokens, {new_last} new (request 1: {new_first} new)"))
    print(f"agent: first {first * 1000:.0f} ms, last {last * 1000:.0f} ms", file=sys.stderr)
    return {"ttft_s": per_round, "usage": usage}


def run_peer(path: Path, threads: int, quick: bool, rows: list[dict[str, Any]],
             ratios: list[dict[str, Any]]) -> dict[str, Any]:
    from tests.helpers.llama_server import ALIAS, llama_server
    from tests.helpers.llama_server import KEY as PEER_KEY

    max_tokens, reps = (96, 3) if quick else (192, 5)
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "seed": 1,
            "temperature": 0.8, "top_p": 0.95}  # the model's recommended settings (Sampling)
    samples: dict[str, list[dict[str, Any]]] = {"fireside": [], "llama_cpp.server": []}
    banned: list[int] = []

    def one_round(side: str) -> Callable[[], float]:
        def go() -> float:  # each side's server runs alone: only one model in memory at a time
            if side == "fireside":
                with fireside_server(path, threads, ban_control=True) as (url, engine):
                    banned[:] = control_tokens(engine)
                    result = _timed(url, KEY, {**body, "model": "",
                                               "stream_options": {"include_usage": True}})
            else:
                with llama_server(path, n_ctx=N_CTX, n_threads=threads) as url:
                    bias = {str(t): -100 for t in banned}
                    result = _timed(url, PEER_KEY, {**body, "model": ALIAS, "logit_bias": bias})
            # Fireside may send two tokens in one delta when the client reads slower than the
            # model writes; the rate counts tokens (its usage), the peer sends one a delta.
            tokens = int(result.get("completion_tokens") or result["deltas"])
            span = float(result["span_s"])
            result["tokens"] = tokens
            result["tokens_per_s"] = (tokens - 1) / span if span else 0.0
            samples[side].append(result)
            return float(result["tokens_per_s"])
        return go

    one_round("fireside")()  # learns the end tokens to ban on the peer; not counted
    samples["fireside"].clear()
    speeds = alternate({"fireside": one_round("fireside"),
                        "llama_cpp.server": one_round("llama_cpp.server")}, reps)
    for side, results in samples.items():
        rows.append({"part": "peer", "server": side, "median tokens/s": round(median(speeds[side]), 2),
                     "median ttft ms": round(median([r["ttft_s"] for r in results]) * 1000, 1),
                     "tokens": min(r["tokens"] for r in results),
                     "deltas": min(r["deltas"] for r in results), "runs": reps})
    ratio = median(speeds["fireside"]) / median(speeds["llama_cpp.server"])
    ttft_f = median([r["ttft_s"] for r in samples["fireside"]])
    ttft_p = median([r["ttft_s"] for r in samples["llama_cpp.server"]])
    ratios.append(make_ratio("Streaming tokens/s: Fireside's server / llama_cpp.server", ratio,
                             PEER_TARGET, detail=f"{median(speeds['fireside']):.1f} vs "
                             f"{median(speeds['llama_cpp.server']):.1f} tok/s, {reps} rounds of "
                             f"{max_tokens} tokens, {threads} threads"))
    ratios.append(make_ratio("Time to first token: llama_cpp.server / Fireside's server",
                             ttft_p / ttft_f, PEER_TARGET,
                             detail=f"{ttft_f * 1000:.0f} vs {ttft_p * 1000:.0f} ms (Fireside vs peer)"))
    print(f"peer: {ratio:.3f} speed ratio, TTFT {ttft_f * 1000:.0f} vs {ttft_p * 1000:.0f} ms",
          file=sys.stderr)
    return {"speeds": speeds, "samples": samples}


def _timed(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    client = Client(url, key)
    try:
        client.ask({**body, "max_tokens": 4})  # the first request pays for warm-up on both
        return client.ask(body)
    finally:
        client.close()


def run(quick: bool = False, threads: int = 2, only: str = "", model: str = "gemma") -> dict[str, Any]:
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    path = cached_gemma()
    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    if only in ("", "agent"):
        if model == "shape20b":
            from tests.benchmarks.shape20b import shape20b_path

            big = shape20b_path()
            if not big.is_file():
                raise SystemExit(f"the 20b shape is not built yet ({big}): python -m "
                                 "tests.benchmarks.shape20b builds it (~12 GB, minutes)")
            raw["agent"] = run_agent(big, threads, quick, rows, ratios, harmony=True, rounds=2)
        else:
            tiny = model == "tiny"
            agent_path = cached_tiny_gptoss(n_ctx_train=TINY_N_CTX) if tiny else path
            raw["agent"] = run_agent(agent_path, threads, quick, rows, ratios, harmony=tiny)
    if only in ("", "peer"):
        raw["peer"] = run_peer(path, threads, quick, rows, ratios)
    return {"title": "Local API server: an agent's resent conversation, and llama_cpp.server",
            "rows": rows, "ratios": ratios, "samples": raw,
            "settings": {"threads": threads, "n_ctx": N_CTX, "model": path.name,
                         "agent_model": model},
            "machine": machine_details()}


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--threads", type=int, default=2),
        p.add_argument("--only", choices=("agent", "peer"), default=""),
        p.add_argument("--model", choices=("gemma", "tiny", "shape20b"), default="gemma",
                       help="the agent conversation's model (the peer part is always Gemma)")))
