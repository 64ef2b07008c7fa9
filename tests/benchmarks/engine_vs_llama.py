"""Fireside's engine path against llama.cpp's own llama-bench, on the same GGUF and kernels.

Fireside side: LlamaEngine.stream() exactly as the app calls it (harmony or chat-template
rendering, tokenizing, prompt evaluation, the app's default sampler chain for the model, the
stream parser), on a prompt of exactly 512 tokens with max_tokens=128 and end tokens banned, so
every reply is 128 tokens long. The cache is cleared before each reply so the whole prompt is
evaluated.
  pp = prompt tokens / time to first token (render + tokenize + evaluate + first sample)
  tg = (generated tokens - 1) / (time of last token - time of first token), as ReplyStats reports
       it, i.e. excluding the first token like llama-bench.

llama.cpp side: `llama-bench -p 512 -n 0` for pp and `-p 0 -n 128 -d 512` for tg (generation at
depth 512, where Fireside generates: right after its 512-token prompt), with Fireside's settings:
2 threads, flash attention on, batch = ubatch = 512, mmap. llama-bench is built against the
installed llama-cpp-python's own libllama/libggml (llama_bench_build.py), so only the wrapper
differs. Each llama-bench call is one repetition (-r 1, with its own warm-up run); the sides run
alternately (Fireside, llama-bench pp, llama-bench tg, then rotated) and we report medians.

Differences we know of and keep: llama-bench's context is n_prompt + n_gen + depth (640 cells),
Fireside's is 1024 (only used cells are attended to, so this does not change the work). Both keep
only the sliding window in the SWA layers' caches (llama-bench 0.3.36 sets swa_full = false).

The Vulkan device: a second pass with every layer on Vulkan0 (Fireside n_gpu_layers=-1,
llama-bench -ngl 99 -dev Vulkan0), both sides through the same libggml-vulkan module, on the tiny
gpt-oss and Gemma only, with smaller sizes; it runs in a child process that opts in to the device
(on a machine without a GPU, Mesa's lavapipe). engine_vulkan.py says how and what it checks. It
runs by default in full mode when the build has a Vulkan module, and on request (--devices).

Run: `python -m tests.benchmarks.engine_vs_llama [--quick] [--devices cpu,vulkan] [--out FILE]`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Sampling
from fireside.core.chat.events import Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from tests.benchmarks.bench_models import (
    BenchModel,
    bench_models,
    no_end_tokens,
    request_with_tokens,
    run_reply,
)
from tests.benchmarks.common import BENCH_CACHE, alternate, cli, machine_details, make_ratio, median, ratio
from tests.benchmarks.llama_bench_build import find_llama_bench, lib_dir, llama_cpp_version, run_llama_bench

PP_TARGET = 0.95
LAST_RESULTS = BENCH_CACHE / "engine_vs_llama-last.json"
TG_TARGET = 0.97


@dataclass(frozen=True)
class Settings:
    """What both sides use; reported with the results."""

    n_prompt: int = 512
    n_gen: int = 128
    threads: int = 2
    n_batch: int = 512  # Fireside's LoadConfig default; llama-bench gets -b and -ub of the same
    flash_attn: bool = True
    mmap: bool = True
    n_ctx: int = 1024  # Fireside's context for this benchmark (>= 512 + 128)
    gpu: bool = False  # every layer on the GPU device (the Vulkan pass, engine_vulkan.py)
    device: str = ""  # llama-bench's -dev for a GPU pass (Vulkan0): it fails rather than fall back

    def load_config(self) -> LoadConfig:
        return LoadConfig(n_ctx=self.n_ctx, n_threads=self.threads, n_batch=self.n_batch,
                          flash_attn=self.flash_attn, use_mmap=self.mmap,
                          n_gpu_layers=-1 if self.gpu else 0)

    def bench_args(self) -> list[str]:
        # llama-bench offloads 99 layers by default: say which device each pass is for.
        return ["-t", str(self.threads), "-b", str(self.n_batch), "-ub", str(self.n_batch),
                "-fa", "1" if self.flash_attn else "0", "-lm", "mmap" if self.mmap else "none", "-r", "1",
                "-ngl", "99" if self.gpu else "0", *(["-dev", self.device] if self.device else [])]


class FiresideSide:
    """One engine and one fixed request; each call of reply() is one reply.

    For a model that takes a large share of RAM (the 20b shape: llama.cpp repacks its Q8_0 and
    MXFP4 weights into ~10 GB of anonymous memory at load, in each process), release() unloads it
    while llama-bench runs, so the two processes never hold two copies at once; reply() loads it
    again, with a warm-up reply on the same prompt, as llama-bench warms up in each of its runs.
    """

    def __init__(self, model: BenchModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        # No shared-prefix store (the default): every prompt here must be evaluated as llama-bench does (or
        # reused only from the KV cache of this conversation), never restored from another chat.
        self.engine = LlamaEngine()
        self.request: ChatRequest | None = None
        self.warmup: ChatRequest | None = None
        self.pp: list[float] = []
        self.tg: list[float] = []
        self.loads = 0

    def _ensure_loaded(self) -> None:
        if self.engine.info is not None:
            return
        self.engine.load(str(self.model.path), self.settings.load_config())
        self.loads += 1
        info = self.engine.info
        assert info is not None
        sampling = Sampling.for_model(info.is_harmony, seed=1234)
        self.request = request_with_tokens(self.engine, self.settings.n_prompt,
                                           max_tokens=self.settings.n_gen, sampling=sampling)
        # llama-bench's warm-up is a full pp512 run (it first-touches the compute buffers and
        # pages in the mapped weights); ours is the same prompt with two tokens generated.
        self.warmup = replace(self.request, max_tokens=2)
        self._reply(self.warmup)

    def _reply(self, request: ChatRequest) -> Done:
        cache = self.engine.cache
        assert cache is not None
        cache.clear()
        with no_end_tokens(self.engine):
            done, _ = run_reply(self.engine, request)
        return done

    def reply(self) -> float:
        """One full reply from an empty cache; records pp and tg, returns pp."""
        self._ensure_loaded()
        assert self.request is not None and self.engine.cache is not None
        s = self._reply(self.request).stats
        if s.prompt_tokens != self.settings.n_prompt or s.reused_prompt_tokens != 0:
            raise RuntimeError(f"prompt was {s.prompt_tokens} tokens, {s.reused_prompt_tokens} reused")
        generated = self.engine.cache.n_past - s.prompt_tokens  # every sampled token is decoded
        if s.stop_reason != "length" or generated != self.settings.n_gen:
            raise RuntimeError(f"reply stopped after {generated} tokens ({s.stop_reason})")
        self.pp.append(s.prompt_tokens / s.ttft_s)
        self.tg.append(s.tokens_per_s)
        return self.pp[-1]

    def release(self) -> None:
        self.engine.unload()

    def bench_settings(self) -> tuple[Settings, dict[str, Any]]:
        """Load the model; the settings llama-bench must use to do the same work (the engine's
        own choices: flash attention is off on a software Vulkan device), and where it runs."""
        self._ensure_loaded()
        info, config = self.engine.info, self.engine.load_config
        assert info is not None and config is not None
        report = {"device": info.device, "flash_attn": config.flash_attn, "n_ctx": info.n_ctx,
                  "n_batch": config.n_batch, "threads": config.threads(),
                  "n_gpu_layers": config.n_gpu_layers}
        return replace(self.settings, flash_attn=config.flash_attn), report


def _exclusive(path: Path) -> bool:
    """True when two processes holding this model at once could exhaust RAM (see FiresideSide)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return True
    return path.stat().st_size > 0.25 * total


# What llama-bench says it ran on and with: kept with the results (and checked by the Vulkan pass)
REPORT_FIELDS = ("backends", "gpu_info", "devices", "n_gpu_layers", "flash_attn", "n_threads",
                 "n_batch", "n_ubatch", "n_prompt", "n_gen", "n_depth")


def _bench_once(binary: Path, model: Path, settings: Settings, kind: str) -> dict[str, Any]:
    if kind == "pp":
        args = ["-p", str(settings.n_prompt), "-n", "0"]
    else:
        args = ["-p", "0", "-n", str(settings.n_gen), "-d", str(settings.n_prompt)]
    records = run_llama_bench(binary, model, [*args, *settings.bench_args()])
    record: dict[str, Any] = records[0]
    return record


def compare_model(model: BenchModel, settings: Settings, reps: int, binary: Path | None) -> dict[str, Any]:
    """Alternate Fireside and llama-bench on one model; medians, ratios and raw samples."""
    t0 = time.perf_counter()
    side = FiresideSide(model, settings)
    exclusive = _exclusive(model.path)
    bench_settings, fireside_report = side.bench_settings()
    reports: dict[str, dict[str, Any]] = {}

    def bench(kind: str) -> float:
        assert binary is not None
        if exclusive:
            side.release()
        record = _bench_once(binary, model.path, bench_settings, kind)
        reports.setdefault(kind, {k: record.get(k) for k in REPORT_FIELDS})
        return float(record["avg_ts"])

    try:
        fns = {"fireside": side.reply}
        if binary is not None:
            fns["llama_pp"] = lambda: bench("pp")
            fns["llama_tg"] = lambda: bench("tg")
        raw = alternate(fns, reps)
    finally:
        side.release()
    out: dict[str, Any] = {
        "model": model.name, "path": str(model.path), "reps": reps, "exclusive_memory": exclusive,
        "fireside_loads": side.loads, "fireside_report": fireside_report, "llama_bench_report": reports,
        "settings": {**bench_settings.__dict__, "bench_args": bench_settings.bench_args()},
        "fireside_pp": side.pp, "fireside_tg": side.tg,
        "llama_pp": raw.get("llama_pp", []), "llama_tg": raw.get("llama_tg", []),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out["pp_ratio"] = ratio(median(side.pp), median(out["llama_pp"]))
    out["tg_ratio"] = ratio(median(side.tg), median(out["llama_tg"]))
    # Per-round ratios (each side against the other in the same round): robust to a change of
    # load between rounds, which shifts both medians but not a round's pair.
    out["pp_ratio_rounds"] = [ratio(a, b) for a, b in zip(side.pp, out["llama_pp"], strict=False)]
    out["tg_ratio_rounds"] = [ratio(a, b) for a, b in zip(side.tg, out["llama_tg"], strict=False)]
    return out


def _rows_and_ratios(r: dict[str, Any], compared: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {
        "model": r["model"],
        "fireside pp t/s": round(median(r["fireside_pp"]), 2),
        "llama-bench pp t/s": round(median(r["llama_pp"]), 2),
        "pp ratio": round(r["pp_ratio"], 3) if math.isfinite(r["pp_ratio"]) else None,
        "fireside tg t/s": round(median(r["fireside_tg"]), 2),
        "llama-bench tg t/s": round(median(r["llama_tg"]), 2),
        "tg ratio": round(r["tg_ratio"], 3) if math.isfinite(r["tg_ratio"]) else None,
        "reps": r["reps"],
    }
    ratios = []
    if compared:
        for kind, target, label in (("pp", PP_TARGET, "prompt processing"), ("tg", TG_TARGET, "generation")):
            rounds = ", ".join(f"{x:.3f}" for x in r[f"{kind}_ratio_rounds"])
            detail = (f"ratio of medians over {r['reps']} alternating rounds; per-round ratios {rounds} "
                      f"(median {median(r[f'{kind}_ratio_rounds']):.3f})")
            if "settings" in r and r["settings"].get("gpu"):
                detail = f"{r['fireside_report']['device']}; {r['settings']['n_prompt']} prompt, " \
                         f"{r['settings']['n_gen']} generated tokens; {detail}"
            ratios.append(make_ratio(f"{r['model']} {label} (Fireside / llama-bench)",
                                     r[f"{kind}_ratio"], target, detail=detail))
    return row, ratios


def _vulkan_wanted(quick: bool, devices: str | None) -> bool:
    """The Vulkan pass runs when asked (devices names it), and by default in full mode when this
    llama-cpp-python ships a Vulkan backend module."""
    if devices is not None:
        return "vulkan" in devices.split(",")
    from fireside.core.engine.devices import backend_modules

    return not quick and "vulkan" in backend_modules()


def run(quick: bool = False, models: list[BenchModel] | None = None,
        reps: int | None = None, only: str | None = None, vulkan: bool = False,
        devices: str | None = None) -> dict[str, Any]:
    """Quick: tiny gpt-oss and Gemma 270M, 3 reps, llama-bench only if already built (CI).
    Full: also the gpt-oss-20b shape (built on first use, ~12 GB), 5 reps (3 on the 20b shape).
    devices: "cpu", "vulkan" or "cpu,vulkan" (default: the CPU, plus the Vulkan device in full
    mode when the build has its module; `vulkan=True` is "cpu,vulkan"). The Vulkan pass runs the
    tiny gpt-oss and Gemma in a child process that opts in to the device (engine_vulkan.py)."""
    from tests.benchmarks import engine_vulkan

    devices = "cpu,vulkan" if vulkan and devices is None else devices
    on_cpu = devices is None or "cpu" in devices.split(",")
    settings = Settings()
    binary = find_llama_bench()
    if binary is None and not quick:
        from tests.benchmarks.llama_bench_build import build_llama_bench

        binary = build_llama_bench()
    models = models if models is not None else bench_models(quick)
    if only:
        models = [m for m in models if m.name in only.split(",")]
    results = []
    for m in models if on_cpu else []:
        n = reps or (3 if quick or m.name.startswith("gpt-oss-20b") else 5)
        results.append(compare_model(m, settings, n, binary))
    rows, ratios = [], []
    for r in results:
        row, found = _rows_and_ratios(r, binary is not None)
        rows.append(row)
        ratios += found
    gpu: dict[str, Any] = {}
    if _vulkan_wanted(quick, devices):
        names = tuple(m.name for m in models)
        gpu = engine_vulkan.run_pass(names, reps or (1 if quick else 3))
        for r in gpu.get("results", []):
            row, found = _rows_and_ratios(r, True)
            rows.append(row)
            ratios += found
        results += gpu.get("results", [])
        if "error" in gpu:  # shown as missing figures, with the reason, never as numbers
            for name in (n for n in names if n in engine_vulkan.MODELS):
                for label, target in (("prompt processing", PP_TARGET), ("generation", TG_TARGET)):
                    name_on = f"{name} ({engine_vulkan.DEVICE}) {label} (Fireside / llama-bench)"
                    ratios.append(make_ratio(name_on, math.nan, target, detail=gpu["error"]))
    LAST_RESULTS.parent.mkdir(parents=True, exist_ok=True)  # for bandwidth.py's "fraction of the bound"
    LAST_RESULTS.write_text(json.dumps({"time": time.time(), "results": results}, default=str))
    note = "" if binary or not on_cpu else (
        "llama-bench is not built (python -m tests.benchmarks.llama_bench_build); "
        "only Fireside's side was measured")
    if "error" in gpu:
        note = " ".join(x for x in (note, gpu["error"]) if x)
    return {
        "title": "Engine vs llama.cpp (llama-bench), same GGUF, same kernels",
        "rows": rows,
        "ratios": ratios,
        "note": note,
        "settings": {**settings.__dict__, "llama_bench": str(binary) if binary else None,
                     "llama_cpp_python": llama_cpp_version(), "libs": str(lib_dir()),
                     "bench_args": settings.bench_args(),
                     "pp_args": f"-p {settings.n_prompt} -n 0", "tg_args": f"-p 0 -n {settings.n_gen} -d "
                     f"{settings.n_prompt}"},
        "machine": machine_details(),
        "vulkan": {k: v for k, v in gpu.items() if k != "results"},
        "results": results,
    }


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--reps", type=int, help="alternating rounds per model (default 5; 3 on the 20b)"),
        p.add_argument("--only", help="comma-separated: tiny-gpt-oss,gemma-3-270m,gpt-oss-20b-shape"),
        p.add_argument("--vulkan", action="store_true", help="also on Vulkan0 (--devices cpu,vulkan)"),
        p.add_argument("--devices", help="cpu, vulkan or cpu,vulkan (default: cpu, and vulkan in full mode "
                                         "when the build has a Vulkan module)")))
