"""New-chat time to first token with ten tool definitions: does the shared prefix cost anything
once it has been evaluated, and after a restart?

Ten MCP-style tools (tests/helpers/mcp_tools.py: filesystem, git, fetch, GitHub) put about
1,800 tokens of definitions into gpt-oss's developer message (more on the tiny vocabularies).
Every new chat starts with them. The engine evaluates that opening once and restores its KV state
(core/engine/prefix_state.py) from memory, or from the cache folder after a restart.

Measured through LlamaEngine.stream(), as the app drives it, each chat a new conversation (a new
user message, so nothing past the opening can be reused), one token generated:
- the first chat with tools (the opening is evaluated: a miss, for reference);
- from the second chat on, new chats with tools and new chats without tools, alternated;
- after a restart (a new engine, empty memory, the same cache folder): a chat with tools, which
  finds the opening on disk, and one without.
Ratios: TTFT with tools / without, warm and after the restart. Target: <= 1.3 both.
Models without harmony (Gemma) have no place for tools in their prompt format, so the same
definitions are given as the system text: the same length of shared opening.

Run: `python -m tests.benchmarks.prefix_cache [--quick]` (quick: the tiny gpt-oss and Gemma 3
270M; full: also the gpt-oss-20b shape, ~12 GB, built on first use by shape20b.py; its first,
uncached chat alone takes minutes on a laptop CPU).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.prefix_state import PrefixStore
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import BenchModel, bench_models, no_end_tokens
from tests.benchmarks.common import alternate, cli, machine_details, make_ratio, median
from tests.helpers.mcp_tools import TEN_TOOLS, tools_as_text

TARGET = 1.3
SYSTEM = "You help with files, repositories and the web. Ask before changing anything."
QUESTIONS = ("Which files changed since yesterday?", "Summarise the open issues for me.",
             "What does the README say about installing?", "Fetch the release notes page.",
             "List the biggest files in my projects folder.", "Show the last five commits.",
             "Is there a settings file in the repository?", "Open an issue about the crash.")


class Chats:
    """New chats on one engine: each call starts a conversation with the next question."""

    def __init__(self, engine: LlamaEngine, harmony: bool) -> None:
        self.engine, self.harmony, self.n = engine, harmony, 0
        self.last: dict[str, Any] = {}

    def request(self, tools: bool, max_tokens: int = 1) -> ChatRequest:
        question = f"{QUESTIONS[self.n % len(QUESTIONS)]} ({self.n})"
        self.n += 1
        if self.harmony:
            return ChatRequest(messages=(Message("user", question),), system_prompt=SYSTEM,
                               tools=TEN_TOOLS if tools else (), max_tokens=max_tokens,
                               sampling=Sampling.greedy())
        system = f"{SYSTEM}\n\n{tools_as_text()}" if tools else SYSTEM
        return ChatRequest(messages=(Message("user", question),), system_prompt=system,
                           max_tokens=max_tokens, sampling=Sampling.greedy())

    def _done(self, request: ChatRequest) -> Done:
        with no_end_tokens(self.engine):
            events = list(self.engine.stream(request))
        done = events[-1]
        assert isinstance(done, Done)
        self.last = {"prompt_tokens": done.stats.prompt_tokens,
                     "reused": done.stats.reused_prompt_tokens}
        return done

    def ttft(self, tools: bool) -> float:
        return self._done(self.request(tools)).stats.ttft_s

    def generation(self, tokens: int = 32) -> float:
        """Tokens/s of a reply after the tools' opening: what the flash-attention setting trades
        against the first token (attention over the ~1,700 cached positions at every step)."""
        return self._done(self.request(True, tokens)).stats.tokens_per_s


def _load(path: Path, store_dir: Path, n_ctx: int, flash_attn: bool) -> LlamaEngine:
    engine = LlamaEngine(prefix_store=PrefixStore(store_dir))
    engine.load(str(path), LoadConfig(n_ctx=n_ctx, n_threads=2, flash_attn=flash_attn))
    return engine


def run_model(model: BenchModel, n_ctx: int, reps: int, flash_attn: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fireside-prefix-bench-") as tmp:
        store_dir = Path(tmp)
        engine = _load(model.path, store_dir, n_ctx, flash_attn)
        assert engine.info is not None
        chats = Chats(engine, engine.info.is_harmony)
        chats.ttft(False)  # warm-up (page cache, first graph); its opening is stored too
        first_tools = chats.ttft(True)
        first_info = dict(chats.last)
        print(f"{model.name}: first chat with tools {first_tools:.2f} s ({first_info})",
              file=sys.stderr, flush=True)
        warm = alternate({"tools": lambda: chats.ttft(True), "none": lambda: chats.ttft(False)},
                         reps)
        warm_info = dict(chats.last)
        generation = [chats.generation() for _ in range(2)]
        engine.unload()
        restarted = _load(model.path, store_dir, n_ctx, flash_attn)
        chats = Chats(restarted, chats.harmony)
        chats.ttft(False)  # the same warm-up as above (first graph), not a tools chat
        after_tools = chats.ttft(True)  # the first chat with tools after the restart: from disk
        after_info = dict(chats.last)
        after_none = chats.ttft(False)
        assert restarted.prefix_store is not None
        disk_hits = restarted.prefix_store.stats.disk_hits
        disk_mb = restarted.prefix_store.disk_usage() / 1e6
        restarted.unload()
    tools_s, none_s = median(warm["tools"]), median(warm["none"])
    print(f"{model.name}: warm tools {tools_s:.3f} s, none {none_s:.3f} s; after restart tools "
          f"{after_tools:.3f} s, none {after_none:.3f} s", file=sys.stderr, flush=True)
    return {
        "model": model.name, "n_ctx": n_ctx, "reps": reps, "flash_attn": flash_attn,
        "prompt_tokens_with_tools": first_info["prompt_tokens"],
        "opening_tokens_restored": after_info["reused"],
        "first_chat_with_tools_s": first_tools, "warm_tools_s": warm["tools"],
        "warm_none_s": warm["none"], "warm_ratio": tools_s / none_s,
        "restart_tools_s": after_tools, "restart_none_s": after_none,
        "restart_ratio": after_tools / after_none, "restart_disk_hits": disk_hits,
        "cache_folder_mb": round(disk_mb, 1), "last_warm": warm_info,
        "generation_after_tools_tps": generation,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run(quick: bool = False, model: str | None = None, n_ctx: int = 8192,
        no_flash_attn: bool = False) -> dict[str, Any]:
    """Quick: tiny gpt-oss and Gemma (~1 min). Full: also the 20b shape (tens of minutes)."""
    if model:
        models = [BenchModel(Path(model).stem, Path(model))]
    else:
        from tests.helpers.tiny_gptoss import cached_tiny_gptoss

        # the tools are ~7,000 tokens on the tiny model's vocabulary: it needs 8,192 positions
        models = [BenchModel("tiny-gpt-oss", cached_tiny_gptoss(n_ctx_train=8192))]
        models += [m for m in bench_models(quick) if m.name != "tiny-gpt-oss"]
    results = [run_model(m, n_ctx, 3 if "20b" in m.name else 5, not no_flash_attn)
               for m in models]
    rows, ratios = [], []
    for r in results:
        rows.append({
            "model": r["model"], "prompt tokens (tools)": r["prompt_tokens_with_tools"],
            "first chat, tools s": round(r["first_chat_with_tools_s"], 3),
            "warm tools s": round(median(r["warm_tools_s"]), 3),
            "warm no tools s": round(median(r["warm_none_s"]), 3),
            "warm ratio": round(r["warm_ratio"], 3),
            "restart tools s": round(r["restart_tools_s"], 3),
            "restart no tools s": round(r["restart_none_s"], 3),
            "restart ratio": round(r["restart_ratio"], 3),
            "tokens/s after the tools": round(max(r["generation_after_tools_tps"]), 2),
        })
        detail = (f"{r['prompt_tokens_with_tools']} prompt tokens, {r['opening_tokens_restored']} "
                  f"restored; uncached first chat {r['first_chat_with_tools_s']:.2f} s")
        ratios.append(make_ratio(f"{r['model']} new chat TTFT, ten tools / none (warm)",
                                 r["warm_ratio"], TARGET, higher_is_better=False, detail=detail))
        ratios.append(make_ratio(f"{r['model']} new chat TTFT, ten tools / none (after restart)",
                                 r["restart_ratio"], TARGET, higher_is_better=False,
                                 detail=f"{r['restart_disk_hits']} disk hit(s), cache folder "
                                        f"{r['cache_folder_mb']} MB"))
    return {"title": "New chat with ten tools: time to first token", "rows": rows,
            "ratios": ratios, "results": results, "machine": machine_details()}


if __name__ == "__main__":
    def _options(parser: Any) -> None:
        parser.add_argument("--model", help="GGUF path")
        parser.add_argument("--no-flash-attn", action="store_true",
                            help="load with flash attention off (the setting of the same name)")

    cli(run, __doc__.splitlines()[0], extra=_options)
