"""The CPU backend as scripts/install.sh builds it on Linux x86-64: `GGML_CPU_ALL_VARIANTS`, one
module per instruction-set level, and the best one this processor can run loaded at start.

What "best" means is checked twice, independently of Fireside's code: each module's own score
(`ggml_backend_score`, what ggml's loader compares) must equal the score ggml's rules give from the
features the variant is compiled with (ggml/src/CMakeLists.txt) and the processor's flags in
/proc/cpuinfo; and the module llama.cpp loaded must be the highest, with the instruction sets
llama.cpp then reports being exactly that variant's.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import llama_cpp
import pytest

from fireside.core.engine.devices import (
    backend_modules,
    cpu_module,
    cpu_variant_scores,
    cpu_variants,
    lib_dir,
    load_backends,
    variant_of,
)
from fireside.core.models import load_check

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="scripts/install.sh builds the CPU variants on Linux x86-64 only",
)

# ggml/src/CMakeLists.txt (llama-cpp-python 0.3.36's vendored llama.cpp): variant -> its features
_HASWELL = ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2")
_AVX512 = (*_HASWELL, "AVX512")
VARIANTS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "sse42": ("SSE42",),
    "sandybridge": ("SSE42", "AVX"),
    "ivybridge": ("SSE42", "AVX", "F16C"),
    "piledriver": ("SSE42", "AVX", "F16C", "FMA"),
    "haswell": _HASWELL,
    "skylakex": _AVX512,
    "cannonlake": (*_AVX512, "AVX512_VBMI"),
    "cascadelake": (*_AVX512, "AVX512_VNNI"),
    "icelake": (*_AVX512, "AVX512_VBMI", "AVX512_VNNI"),
    "cooperlake": (*_AVX512, "AVX512_VNNI", "AVX512_BF16"),
    "zen4": (*_AVX512, "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"),
    "alderlake": (*_HASWELL, "AVX_VNNI"),
    "sapphirerapids": (*_AVX512, "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8"),
}
# ggml/src/ggml-cpu/arch/x86/cpu-feats.cpp: the CPUID bits each feature needs (as Linux names
# them in /proc/cpuinfo) and what it adds to the score; a module with a missing one scores 0.
CPUINFO = {
    "SSE42": {"sse4_2"}, "AVX": {"avx"}, "F16C": {"f16c"}, "FMA": {"fma"}, "AVX2": {"avx2"},
    "BMI2": {"bmi2"}, "AVX_VNNI": {"avx_vnni"},
    "AVX512": {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"},
    "AVX512_VBMI": {"avx512vbmi"}, "AVX512_VNNI": {"avx512_vnni"}, "AVX512_BF16": {"avx512_bf16"},
    "AMX_TILE": set(), "AMX_INT8": {"amx_int8"},  # ggml scores AMX_INT8 only
}
WEIGHT = {"FMA": 1, "F16C": 1 << 1, "SSE42": 1 << 2, "BMI2": 1 << 3, "AVX": 1 << 4, "AVX2": 1 << 5,
          "AVX_VNNI": 1 << 6, "AVX512": 1 << 7, "AVX512_VBMI": 1 << 8, "AVX512_BF16": 1 << 9,
          "AVX512_VNNI": 1 << 10, "AMX_TILE": 0, "AMX_INT8": 1 << 11}
# What llama.cpp's system info reports for a loaded CPU module (the instruction sets it was
# compiled with); SSE4.2 and AMX_TILE are not among them.
REPORTED = {"AVX", "AVX_VNNI", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
            "AVX512_BF16", "AMX_INT8"}


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text()
    line = next(x for x in text.splitlines() if x.startswith("flags"))
    return set(line.split(":", 1)[1].split())


def _expected_scores() -> dict[str, int]:
    flags = _cpu_flags()
    return {name: (1 + sum(WEIGHT[f] for f in feats)) if all(CPUINFO[f] <= flags for f in feats) else 0
            for name, feats in VARIANTS.items()}


def test_the_build_ships_every_cpu_variant_as_one_backend():
    assert sorted(cpu_variants()) == sorted(VARIANTS), (
        "this llama-cpp-python was not built with GGML_CPU_ALL_VARIANTS: run scripts/install.sh")
    assert backend_modules().count("cpu") == 1
    assert not any(m.startswith("cpu-") for m in backend_modules())


def test_each_variant_scores_what_its_instructions_and_this_processor_allow():
    scores = cpu_variant_scores()
    assert scores == _expected_scores()
    assert scores["x64"] == 1  # the baseline runs on every x86-64 processor


def test_llama_cpp_loaded_the_best_variant_this_processor_runs():
    load_backends()
    module = cpu_module()
    assert Path(module).resolve().parent == Path(lib_dir() or "").resolve(), module
    chosen = variant_of(module)
    scores = _expected_scores()
    best = max(scores, key=lambda v: scores[v])
    assert chosen == best and scores[chosen] > 1, (chosen, scores)
    # and llama.cpp runs that variant's kernels: the instruction sets its CPU backend reports
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    reported = set(re.findall(r"\b([A-Z0-9_]+) = 1\b", info)) & REPORTED
    assert reported == set(VARIANTS[chosen]) & REPORTED, info


# A fresh process: ggml's own log line for the module it loads, from Fireside's load_backends().
_GGML_SAYS = r"""
import ctypes, sys, llama_cpp
said = []
@llama_cpp.llama_log_callback
def log(level, text, user_data):
    said.append(text.decode("utf-8", "replace"))
llama_cpp.llama_log_set(log, ctypes.c_void_p(0))
from fireside.core.engine.devices import cpu_module, load_backends
load_backends()
print("".join(said))
print("CPU_MODULE", cpu_module())
"""


def test_ggml_itself_reports_loading_that_module():
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(root / "app"), str(root), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", _GGML_SAYS], capture_output=True, text=True,
                       timeout=120, env=env, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = re.findall(r"loaded CPU backend from (\S+)", r.stdout)
    scores = _expected_scores()
    best = max(scores, key=lambda v: scores[v])
    assert len(loaded) == 1 and Path(loaded[0]).name == f"libggml-cpu-{best}.so", r.stdout
    assert f"CPU_MODULE {loaded[0]}\n" in r.stdout, r.stdout


def test_the_load_check_child_picks_the_same_module():
    """The throwaway load-check child loads only the CPU backend, by ggml's rule, on its own."""
    ns: dict[str, object] = {"__name__": "test"}
    exec(compile(load_check._CHILD_SOURCE, "<load_check>", "exec"), ns)
    best_cpu_module = ns["best_cpu_module"]
    assert callable(best_cpu_module)
    picked = best_cpu_module(lib_dir())
    assert isinstance(picked, str)
    assert os.path.realpath(picked) == os.path.realpath(cpu_module())
