"""The physical limit: memory bandwidth, bytes read per generated token, and how close we get.

Generation on a CPU is memory-bound: every token reads the attention and shared weights, the
router, the 4 active experts of each layer, the output head, and the KV cache. So the fastest
possible generation speed is bandwidth / bytes-per-token; Fireside's (and llama-bench's) measured
speed as a fraction of that says how much room is left.

Bandwidth: a STREAM-style copy and triad in C (gcc -O3 -fopenmp, arrays of 3 x 256 MiB, far
beyond any cache), run with the benchmark's thread count; the binary is cached in
~/.cache/fireside-bench. numpy's copy (single-threaded) is reported beside it. STREAM counts
bytes moved as the program sees them (copy: 16 bytes per element, triad: 24), not the extra
write-allocate reads.

Bytes per token are computed from the GGUF's own tensor table (gguf_info.read_gguf): every
tensor's stored size, with the expert tensors (ffn_*_exps) counted at n_expert_used / n_expert,
token_embd counted as one row (a lookup), and the K and V cache read over the context: full
layers over all positions, sliding-window layers over at most the window, at F16.

Run: `python -m tests.benchmarks.bandwidth [--quick]` (quick: the tiny model's bytes/token, and
no generation measurement; full: the 20b shape, with tg from engine_vs_llama results if given).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from fireside.core.models.gguf_info import read_gguf
from tests.benchmarks.common import BENCH_CACHE, cli, machine_details, make_ratio, median

STREAM_C = r"""
/* STREAM-style copy and triad (after John McCalpin's STREAM): best of NTIMES, MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#define N (32L * 1024 * 1024)   /* 3 arrays x 256 MiB of doubles */
#define NTIMES 10
static double a[N], b[N], c[N];
int main(void) {
    double best_copy = 1e30, best_triad = 1e30;
    #pragma omp parallel for
    for (long j = 0; j < N; j++) { a[j] = 1.0; b[j] = 2.0; c[j] = 0.0; }
    for (int k = 0; k < NTIMES; k++) {
        double t = omp_get_wtime();
        #pragma omp parallel for
        for (long j = 0; j < N; j++) c[j] = a[j];
        t = omp_get_wtime() - t; if (t < best_copy) best_copy = t;
        t = omp_get_wtime();
        #pragma omp parallel for
        for (long j = 0; j < N; j++) a[j] = b[j] + 3.0 * c[j];
        t = omp_get_wtime() - t; if (t < best_triad) best_triad = t;
    }
    printf("threads %d\n", omp_get_max_threads());
    printf("copy %.1f\n", 2.0 * sizeof(double) * N / best_copy / 1e6);
    printf("triad %.1f\n", 3.0 * sizeof(double) * N / best_triad / 1e6);
    return a[N / 2] == 0.0;  /* keep the work observable */
}
"""


def stream_binary() -> Path | None:
    """Compile the STREAM kernel once (keyed by its source); None when gcc is missing."""
    key = hashlib.sha256(STREAM_C.encode()).hexdigest()[:12]
    binary = BENCH_CACHE / f"stream-{key}"
    if binary.is_file():
        return binary
    if not shutil.which("gcc"):
        return None
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    src = binary.with_suffix(".c")
    src.write_text(STREAM_C, encoding="utf-8")
    subprocess.run(["gcc", "-O3", "-fopenmp", "-mcmodel=medium", str(src), "-o", str(binary)], check=True)
    return binary


def stream_gbs(threads: int) -> dict[str, float]:
    """Copy and triad bandwidth in GB/s (best of 10 inside the program)."""
    binary = stream_binary()
    if binary is None:
        return {}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "spread"}
    out = subprocess.run([str(binary)], capture_output=True, text=True, env=env, check=True).stdout
    vals = dict(re.findall(r"^(copy|triad) ([\d.]+)$", out, re.M))
    return {k: float(v) / 1000 for k, v in vals.items()}


def numpy_copy_gbs(mib: int = 256, reps: int = 5) -> float:
    """Single-threaded numpy copy (np.copyto), GB/s counted as read + write."""
    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best / 1e9


def bytes_per_token(path: Path, n_ctx: int) -> dict[str, Any]:
    """Bytes a generated token reads, from the GGUF's tensor table (see the module docstring)."""
    g = read_gguf(path)
    meta = g.metadata
    arch = g.architecture
    n_expert = int(meta.get(f"{arch}.expert_count", 0) or 0)
    n_used = int(meta.get(f"{arch}.expert_used_count", 0) or 0)
    n_layer = int(meta[f"{arch}.block_count"])
    n_head_kv = int(meta.get(f"{arch}.attention.head_count_kv", meta.get(f"{arch}.attention.head_count")))
    head_k = int(meta.get(f"{arch}.attention.key_length", 0) or 0)
    head_v = int(meta.get(f"{arch}.attention.value_length", 0) or 0) or head_k
    window = int(meta.get(f"{arch}.attention.sliding_window", 0) or 0)
    names = ("experts_active", "attention_and_shared", "router", "output_head", "embedding_row")
    parts = dict.fromkeys(names, 0)
    experts_stored = 0
    for t in g.tensors:
        if t.name == "token_embd.weight":
            parts["embedding_row"] += t.n_bytes // max(1, t.n_elements // t.shape[0])  # one row
        elif "_exps." in t.name and n_expert:
            experts_stored += t.n_bytes
            parts["experts_active"] += t.n_bytes * n_used // n_expert
        elif "ffn_gate_inp" in t.name:
            parts["router"] += t.n_bytes
        elif t.name.startswith("output"):
            parts["output_head"] += t.n_bytes
        else:
            parts["attention_and_shared"] += t.n_bytes
    # gpt-oss: layers 0, 2, 4, ... use the sliding window (llama.cpp's swa pattern 2)
    n_swa_layers = n_layer // 2 + n_layer % 2 if window else 0
    kv_per_pos = 2 * n_head_kv * (head_k + head_v)  # F16: 2 bytes per element of K and of V
    kv = (n_layer - n_swa_layers) * n_ctx * kv_per_pos + n_swa_layers * min(n_ctx, window) * kv_per_pos
    parts["kv_cache"] = kv
    total = sum(parts.values())
    return {"model": g.name, "path": str(path), "file_bytes": g.file_size, "n_ctx": n_ctx,
            "experts_stored_bytes": experts_stored, "parts": parts, "bytes_per_token": total}


def _default_model(quick: bool) -> Path:
    if quick:
        from tests.helpers.tiny_gptoss import cached_tiny_gptoss

        return cached_tiny_gptoss()
    from tests.benchmarks.shape20b import cached_shape20b

    return cached_shape20b()


def run(quick: bool = False, threads: int = 2, tg: dict[str, float] | None = None,
        model: str | None = None, n_ctx: int = 640, from_json: str | None = None) -> dict[str, Any]:
    """Bandwidth, bytes per token at `n_ctx` (512 prompt + 128 generated, as engine_vs_llama), and
    the measured generation speeds `tg` ({"fireside": t/s, "llama-bench": t/s}) as a fraction of
    the bound. In full mode without `tg`, takes them from engine_vs_llama's last run (< 6 h old,
    same model; the suite runs it just before) or else runs engine_vs_llama on the 20b shape."""
    path = Path(model) if model else _default_model(quick)
    if from_json and tg is None:  # generation speeds from an earlier engine_vs_llama run
        res = next(r for r in json.loads(Path(from_json).read_text())["results"] if r["path"] == str(path))
        tg = {"fireside": median(res["fireside_tg"]), "llama-bench": median(res["llama_tg"])}
    bw = stream_gbs(threads)
    np_copy = numpy_copy_gbs(64 if quick else 256)
    bpt = bytes_per_token(path, n_ctx)
    triad = bw.get("triad", np_copy)
    bound = triad * 1e9 / bpt["bytes_per_token"]
    evl = None
    if tg is None and not quick and from_json is None:  # the suite ran engine_vs_llama just before
        from tests.benchmarks.engine_vs_llama import LAST_RESULTS

        if LAST_RESULTS.is_file() and time.time() - json.loads(LAST_RESULTS.read_text())["time"] < 6 * 3600:
            res = next((r for r in json.loads(LAST_RESULTS.read_text())["results"]
                        if r["path"] == str(path) and r["llama_tg"]), None)
            if res:
                tg = {"fireside": median(res["fireside_tg"]), "llama-bench": median(res["llama_tg"])}
    if tg is None and not quick:
        from tests.benchmarks import engine_vs_llama
        from tests.benchmarks.bench_models import BenchModel

        evl = engine_vs_llama.run(models=[BenchModel(path.stem, path)], reps=3)
        res = evl["results"][0]
        tg = {"fireside": median(res["fireside_tg"]), "llama-bench": median(res["llama_tg"])}
    unit = f"GB/s, {threads} threads"
    rows = [{"what": "STREAM copy (C, OpenMP)", "value": bw.get("copy"), "unit": unit},
            {"what": "STREAM triad (C, OpenMP)", "value": bw.get("triad"), "unit": unit},
            {"what": "numpy copy", "value": round(np_copy, 2), "unit": "GB/s, 1 thread"},
            {"what": "bytes per token", "value": round(bpt["bytes_per_token"] / 1e9, 4),
             "unit": f"GB ({path.name}, ctx {n_ctx})"},
            {"what": "bound = triad / bytes per token", "value": round(bound, 2), "unit": "tokens/s"}]
    ratios = []
    for name, speed in (tg or {}).items():
        frac = speed / bound if bound else float("nan")
        rows.append({"what": f"{name} generation", "value": round(speed, 3),
                     "unit": f"tokens/s = {frac:.0%} of the bound"})
        ratios.append(make_ratio(f"{name} generation / bandwidth bound", frac, 0.0,
                                 detail=f"{speed:.2f} t/s of {bound:.2f} t/s (informational, no target)"))
    return {"title": "Memory bandwidth and the generation speed limit", "rows": rows, "ratios": ratios,
            "stream_gbs": bw, "numpy_copy_gbs": np_copy, "bytes_per_token": bpt, "bound_tokens_per_s": bound,
            "tg": tg, "engine_vs_llama": evl, "machine": machine_details()}


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--threads", type=int, default=2),
        p.add_argument("--model", help="GGUF to compute bytes/token for (default: the 20b shape)"),
        p.add_argument("--from-json", help="take tg from this engine_vs_llama --out file, don't re-run it")))
