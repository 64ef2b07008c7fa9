"""The local API server as agents and editors use it, and against llama_cpp.server and llama-server.

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
   extra, the same wheel) and against llama.cpp's own `llama-server` (built from the llama.cpp
   source the wheel vendors and linked to the very libllama/libggml* the app loads:
   llama_bench_build.py; started by tests/helpers/llama_server_binary.py with the settings
   Fireside's engine loaded with: context, threads, batch, flash attention, one slot), on the same
   GGUF, each on 127.0.0.1 with the others stopped, alternating rounds: streaming tokens/s (first
   to last content delta, tokens from usage; targets: Fireside >= llama_cpp.server, ratio >= 1.0,
   and >= 0.95 of llama-server) and time to first token (the peer's / Fireside's, same targets).
   Every reply runs to max_tokens: the end-of-generation tokens (3 for Gemma) are banned on
   every side (Fireside's sampler chain; a -100 logit_bias on the peers, token ids as strings).
   Only those: they are what ends a reply on all three servers. Banning all 6,250 of Gemma's
   control tokens as well (as this benchmark first did) put a ~100 KB list in every peer request,
   which cost the peers 70-115 ms of time to first token (parsing it) that Fireside's in-process
   ban never pays.
   llama-server is built on first use (~2.5 min on 2 cores, cached per venv); a run that asks
   for it and cannot build it fails with the reason. `--no-llama-server` (or
   FIRESIDE_BENCH_LLAMA_SERVER=0, for the suite) leaves that side out, and the result says so.

Both drive the servers with the official `openai` client in a process of its own
(api_client_child.py). Model: Gemma 3 270M. Run: `python -m tests.benchmarks.api_peers [--quick]
[--only agent|peer] [--model gemma|tiny] [--reps N] [--max-tokens N] [--no-llama-server]`
(`--model`: the agent part's model; `--reps`, `--max-tokens`: the peer part's rounds and replies).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp

from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import Sampling
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

AGENT_TARGET = 1.3
PEER_TARGET = 1.0
NATIVE_TARGET = 0.95  # of llama.cpp's own llama-server
LLAMA_SERVER_ENV = "FIRESIDE_BENCH_LLAMA_SERVER"
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
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(60)
        self.proc.stdout.close()


@contextmanager
def fireside_server(path: Path, threads: int, sides: HarmonySides | None = None, n_ctx: int = N_CTX,
                    ) -> Iterator[tuple[str, LlamaEngine]]:
    """The server on `path`, end-of-generation tokens banned (every reply runs to max_tokens).
    With `sides` (gpt-oss with random weights), replies are sampled through it, end tokens banned."""
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
            with no_end_tokens(engine):
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


SERVERS = ("fireside", "llama_cpp.server", "llama-server")


def run_peer(path: Path, threads: int, quick: bool, rows: list[dict[str, Any]],
             ratios: list[dict[str, Any]], llama_server_bin: Path | None = None,
             reps: int | None = None, max_tokens: int | None = None) -> dict[str, Any]:
    """Fireside's server against llama_cpp.server, and against llama.cpp's llama-server when
    `llama_server_bin` is given; alternating rounds, each server alone in memory (`reps` rounds
    of `max_tokens`-token replies; default 3 of 96 quick, 5 of 192 full)."""
    from tests.helpers import llama_server_binary as native
    from tests.helpers.llama_server import ALIAS, llama_server
    from tests.helpers.llama_server import KEY as PEER_KEY

    max_tokens = max_tokens or (96 if quick else 192)
    reps = reps or (3 if quick else 5)
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens, "seed": 1,
            "temperature": 0.8, "top_p": 0.95}  # the model's recommended settings (Sampling)
    sides = SERVERS if llama_server_bin is not None else SERVERS[:2]
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    ends: list[int] = []  # the end-of-generation tokens the peers ban
    fireside_config: list[LoadConfig] = []

    def one_round(side: str) -> Callable[[], float]:
        def go() -> float:  # each side's server runs alone: only one model in memory at a time
            bias = {str(t): -100 for t in ends}
            if side == "fireside":
                with fireside_server(path, threads) as (url, engine):
                    ends[:] = eog_tokens(engine)
                    assert engine.load_config is not None
                    fireside_config[:] = [engine.load_config]
                    result = _timed(url, KEY, {**body, "model": "",
                                               "stream_options": {"include_usage": True}})
            elif side == "llama_cpp.server":
                with llama_server(path, n_ctx=N_CTX, n_threads=threads) as url:
                    result = _timed(url, PEER_KEY, {**body, "model": ALIAS, "logit_bias": bias})
            else:
                assert llama_server_bin is not None
                config = fireside_config[0]  # the settings Fireside's engine loaded with
                sampling = Sampling.for_model(harmony=False)  # Fireside's top_k and min_p for Gemma
                with native.llama_server_binary(llama_server_bin, path, n_ctx=N_CTX,
                                                n_threads=config.threads(), n_batch=config.n_batch,
                                                flash_attn=config.flash_attn) as url:
                    # llama-server takes token ids as the keys' strings, as OpenAI's API does
                    result = _timed(url, native.KEY, {
                        **body, "model": native.ALIAS, "logit_bias": bias,
                        "stream_options": {"include_usage": True},
                        "extra_body": {"top_k": sampling.top_k, "min_p": sampling.min_p}})
            # Fireside may send two tokens in one delta when the client reads slower than the
            # model writes; the rate counts tokens (its usage), the peers send one a delta.
            tokens = int(result.get("completion_tokens") or result["deltas"])
            span = float(result["span_s"])
            result["tokens"] = tokens
            result["tokens_per_s"] = (tokens - 1) / span if span else 0.0
            samples[side].append(result)
            return float(result["tokens_per_s"])
        return go

    one_round("fireside")()  # learns the end tokens to ban on the peers; not counted
    samples["fireside"].clear()
    speeds = alternate({side: one_round(side) for side in sides}, reps)
    ttft = {side: median([r["ttft_s"] for r in results]) for side, results in samples.items()}
    for side, results in samples.items():
        rows.append({"part": "peer", "server": side, "median tokens/s": round(median(speeds[side]), 2),
                     "median ttft ms": round(ttft[side] * 1000, 1),
                     "tokens": min(r["tokens"] for r in results),
                     "deltas": min(r["deltas"] for r in results), "runs": reps})
    speed = {side: median(values) for side, values in speeds.items()}
    for peer, target in (("llama_cpp.server", PEER_TARGET), ("llama-server", NATIVE_TARGET)):
        if peer not in sides:
            continue
        ratios.append(make_ratio(f"Streaming tokens/s: Fireside's server / {peer}",
                                 speed["fireside"] / speed[peer], target,
                                 detail=f"{speed['fireside']:.1f} vs {speed[peer]:.1f} tok/s, "
                                        f"{reps} rounds of {max_tokens} tokens, {threads} threads"))
        ratios.append(make_ratio(f"Time to first token: {peer} / Fireside's server",
                                 ttft[peer] / ttft["fireside"], target,
                                 detail=f"{ttft['fireside'] * 1000:.0f} vs {ttft[peer] * 1000:.0f} ms "
                                        "(Fireside vs peer)"))
    print("peer: " + ", ".join(f"{side} {speed[side]:.1f} tok/s, TTFT {ttft[side] * 1000:.0f} ms"
                               for side in sides), file=sys.stderr)
    return {"speeds": speeds, "samples": samples, "max_tokens": max_tokens,
            "llama_server": str(llama_server_bin) if llama_server_bin else None}


def llama_server_wanted(asked: bool | None) -> bool:
    """The llama-server side: asked for or not, else FIRESIDE_BENCH_LLAMA_SERVER ("0" leaves it
    out, for a machine without a compiler; the suite runs sections with their defaults)."""
    if asked is not None:
        return asked
    return os.environ.get(LLAMA_SERVER_ENV, "1").strip().lower() not in ("0", "no", "off", "false")


def llama_server_or_fail() -> Path:
    """The cached build of llama.cpp's llama-server, building it if needed (~2.5 min cold on 2
    cores). A side that was asked for and cannot be built fails the run, never leaves it out."""
    from tests.benchmarks.llama_bench_build import build_llama_server

    try:
        return build_llama_server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(
            "The peer comparison includes llama.cpp's llama-server, which could not be built "
            f"({exc}). Install cmake and a C++ compiler (Debian: apt-get install cmake g++ "
            f"ninja-build), or leave the side out: --no-llama-server or {LLAMA_SERVER_ENV}=0."
        ) from exc


def _timed(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    client = Client(url, key)
    try:
        client.ask({**body, "max_tokens": 4})  # the first request pays for warm-up on both
        return client.ask(body)
    finally:
        client.close()


def run(quick: bool = False, threads: int = 2, only: str = "", model: str = "gemma",
        llama_server: bool | None = None, reps: int | None = None,
        max_tokens: int | None = None) -> dict[str, Any]:
    """`reps` and `max_tokens` set the peer part's rounds and reply length."""
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    with_native = only in ("", "peer") and llama_server_wanted(llama_server)
    native = llama_server_or_fail() if with_native else None  # before any measuring: fail fast
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
        raw["peer"] = run_peer(path, threads, quick, rows, ratios, native, reps, max_tokens)
    note = "" if with_native or only == "agent" else (
        f"llama.cpp's llama-server was left out (--no-llama-server or {LLAMA_SERVER_ENV}=0)")
    return {"title": "Local API server: an agent's resent conversation, llama_cpp.server and "
                     "llama-server",
            "rows": rows, "ratios": ratios, "samples": raw, "note": note,
            "settings": {"threads": threads, "n_ctx": N_CTX, "model": path.name,
                         "agent_model": model, "llama_server": str(native) if native else None},
            "machine": machine_details()}


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=("agent", "peer"), default="")
    p.add_argument("--model", choices=("gemma", "tiny", "shape20b"), default="gemma",
                   help="the agent conversation's model (the peer part is always Gemma)")
    p.add_argument("--reps", type=int, help="the peer part's rounds (default 5; quick 3)")
    p.add_argument("--max-tokens", type=int, help="the peer part's reply length (default 192; quick 96)")
    p.add_argument("--llama-server", action=argparse.BooleanOptionalAction, default=None,
                   help="include llama.cpp's llama-server in the peer part, built from the vendored "
                        f"source on first use (default: yes, unless {LLAMA_SERVER_ENV}=0)")


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0], extra=_options)
