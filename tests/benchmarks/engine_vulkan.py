"""The engine section on the Vulkan device: Fireside's engine with every layer on Vulkan0 against
`llama-bench -ngl 99 -dev Vulkan0`, both through the same libggml-vulkan module, same threads,
prompt and generation sizes, batch and flash-attention setting.

On a machine without a GPU the only Vulkan device is Mesa's lavapipe, a CPU-type device that runs
the shaders on the CPU: the figures then measure what Fireside's wrapper costs on the Vulkan code
path (per-token Python, sampling, logits read back from the device), not GPU speed.

Why a child process: ggml lists its devices once per process, when its backend modules load, and
lists a CPU-type Vulkan device only when GGML_VK_VISIBLE_DEVICES names it. The child opts in
(unless the variable is already set); the CPU pass in the parent never sees lavapipe (llama.cpp
would otherwise hand the CPU pass's large prompt batches to it, on both sides).

Sizes: lavapipe evaluates the tiny gpt-oss at roughly 7 tokens/s on two loaded cores, so 256
prompt tokens (the harmony opening alone is 205 on the tiny gpt-oss) and 32 generated tokens, in
a 512-token context; llama-bench `-p 256 -n 0` and `-p 0 -n 32 -d 256`. Gemma 3 270M takes about
2 minutes for 64 prompt tokens and 3 s a token there: 64 and 16. Never the 20b shape.

The figure can never silently be a CPU figure: the child fails unless ggml lists a Vulkan device,
Fireside's engine reports every layer on it ("GPU (Vulkan: llvmpipe…), 3 of 3 layers"), and
llama-bench's own report names the Vulkan backend and the device (`-dev Vulkan0` makes it fail
rather than fall back to the CPU).

Flash attention: Fireside turns it off on a software Vulkan device (llama_engine.py: Mesa 22.3's
lavapipe crashed in the flash-attention shaders); llama-bench gets the setting Fireside's engine
actually loaded with (engine_vs_llama.FiresideSide.bench_settings), so both do the same work.

Run: `python -m tests.benchmarks.engine_vulkan [--reps N] [--only NAME,...]` (prints the
child's JSON); the suite's engine section runs it after the CPU pass (engine_vs_llama.run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tests.benchmarks.engine_vs_llama import Settings, compare_model

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "Vulkan0"
OPT_IN = "GGML_VK_VISIBLE_DEVICES"  # "0": ggml lists lavapipe (the tests opt in the same way)
MODELS = ("tiny-gpt-oss", "gemma-3-270m")  # never the 20b shape on a software device
SETTINGS = Settings(n_prompt=256, n_gen=32, n_ctx=512, gpu=True, device=DEVICE)
SIZES = {"tiny-gpt-oss": (256, 32), "gemma-3-270m": (64, 16)}  # (prompt, generated) tokens


def sized(n_prompt: int, n_gen: int) -> Settings:
    """The pass's settings for these sizes, in a context that holds them (whole 256-cell blocks)."""
    return replace(SETTINGS, n_prompt=n_prompt, n_gen=n_gen,
                   n_ctx=max(SETTINGS.n_ctx, -(-(n_prompt + n_gen) // 256) * 256))
TIME_LIMIT_S = 3 * 3600


class NotOnDevice(RuntimeError):
    """A side did not run where the pass says it runs."""


def check_on_device(result: dict[str, Any]) -> None:
    """Raise NotOnDevice unless both sides of one model's result ran with every layer on Vulkan0."""
    where = result["fireside_report"]["device"]
    if not where.startswith("GPU (Vulkan"):
        raise NotOnDevice(f"Fireside's engine ran {result['model']} on {where!r}, not on {DEVICE}")
    for kind, report in result["llama_bench_report"].items():
        if ("Vulkan" not in str(report.get("backends")) or not report.get("gpu_info")
                or report.get("n_gpu_layers") != 99 or report.get("devices") != DEVICE):
            raise NotOnDevice(f"llama-bench's {kind} run of {result['model']} was not on {DEVICE}: {report}")
        if bool(report.get("flash_attn")) != result["fireside_report"]["flash_attn"]:
            raise NotOnDevice(f"flash attention differs between the sides: {report}")


def child(only: tuple[str, ...], reps: int, sizes: tuple[int, int] | None = None) -> dict[str, Any]:
    """In the opted-in process: every model of `only` on the device, checked (see the docstring);
    at `sizes` (prompt, generated tokens), or each model's own (SIZES)."""
    from fireside.core.engine.devices import devices
    from tests.benchmarks.bench_models import bench_models
    from tests.benchmarks.llama_bench_build import build_llama_bench

    found = [d for d in devices() if d.kind == "Vulkan"]
    if not found:
        raise NotOnDevice(f"ggml lists no Vulkan device ({OPT_IN}={os.environ.get(OPT_IN)!r}); "
                          "is this llama-cpp-python built with its Vulkan module (scripts/install.sh) "
                          "and a Vulkan driver (mesa-vulkan-drivers) installed?")
    binary = build_llama_bench()  # the cached build for this llama-cpp-python (~5 min the first time)
    results = []
    for model in bench_models(quick=True):
        if model.name in only:
            result = compare_model(model, sized(*(sizes or SIZES[model.name])), reps, binary)
            result["model"] = f"{model.name} ({DEVICE})"
            check_on_device(result)
            results.append(result)
    return {"device": asdict(found[0]), "results": results}


def run_pass(only: tuple[str, ...], reps: int, *, sizes: tuple[int, int] | None = None,
             timeout: float = TIME_LIMIT_S) -> dict[str, Any]:
    """The Vulkan pass in a child process that opts in to the device: {"device", "results"}, or
    {"error"} with the reason when it could not run there."""
    only = tuple(m for m in only if m in MODELS)
    if not only:
        return {"results": []}
    env = {**os.environ, OPT_IN: os.environ.get(OPT_IN, "0")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "app"), str(ROOT), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="fireside-bench-vulkan-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "tests.benchmarks.engine_vulkan", "--only", ",".join(only),
                "--reps", str(reps), "--out", str(out)]
        if sizes:
            argv += ["--n-prompt", str(sizes[0]), "--n-gen", str(sizes[1])]
        try:
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"the Vulkan pass gave no result within {timeout:.0f} s"}
        if proc.returncode != 0 or not out.is_file():
            lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
            return {"error": f"the Vulkan pass failed (exit {proc.returncode}): "
                             f"{lines[-1] if lines else 'no message'}", "stderr_tail": proc.stderr[-3000:]}
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
    parser.add_argument("--reps", type=int, default=3, help="alternating rounds per model")
    parser.add_argument("--n-prompt", type=int, help="prompt tokens (pp; default per model, see SIZES)")
    parser.add_argument("--n-gen", type=int, help="generated tokens (tg; default per model)")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    os.environ.setdefault(OPT_IN, "0")  # before ggml loads its backend modules (first devices())
    if (args.n_prompt is None) != (args.n_gen is None):
        parser.error("give both --n-prompt and --n-gen, or neither")
    sizes = (args.n_prompt, args.n_gen) if args.n_prompt is not None else None
    try:
        result = child(tuple(args.only.split(",")), args.reps, sizes)
    except NotOnDevice as exc:
        print(f"engine_vulkan: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, default=str)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
