"""The GPU code path, for real, on Mesa's lavapipe (a software Vulkan device; mesa-vulkan-drivers).

Users with an NVIDIA, AMD or Intel GPU run exactly this path: ggml's Vulkan backend module, the fit
planner reading the device's memory, layers and KV cache offloaded, experts kept in RAM by tensor
overrides. lavapipe is slower than the CPU backend, so ggml ignores it unless
GGML_VK_VISIBLE_DEVICES names it; the checks on the device run in one child process that opts in
(vulkan_child.py), sharing its model loads and Mesa's pipeline compilation (33 s the first time on
two cores, about a second once ~/.cache/mesa_shader_cache holds them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, ReasoningDelta
from fireside.core.engine.devices import backend_modules, devices, gpu_absent_reason, loaded_backends
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.core.models.fit_planner import (
    BADGE_EXPERTS_CPU,
    BADGE_GPU,
    BADGE_NO,
    GPU_OVERHEAD,
    expert_override_patterns,
)

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lavapipe runs on Linux"),
]
LAVAPIPE = {"GGML_VK_VISIBLE_DEVICES": "0"}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "app"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def on_device(tiny_gptoss_path: Path) -> dict[str, Any]:
    assert "vulkan" in backend_modules(), (
        "this llama-cpp-python has no Vulkan backend module: run scripts/install.sh")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.core.engine.vulkan_child", str(tiny_gptoss_path)],
        cwd=ROOT, env=_env(**LAVAPIPE), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    return result


def _lines(part: dict[str, Any], pattern: str) -> list[re.Match[str]]:
    return [m for x in part["lines"] if (m := re.search(pattern, x))]


def test_lavapipe_is_not_used_unless_asked():
    """By default a CPU-type Vulkan device is left out: the CPU backend runs, and doctor says why."""
    assert "Vulkan" in loaded_backends()
    assert [d.kind for d in devices()] == ["CPU"]
    assert "Vulkan backend found no GPU" in gpu_absent_reason()


def test_planner_reads_the_device_memory_and_plans(on_device: dict[str, Any]):
    vulkan = [d for d in on_device["devices"] if d["kind"] == "Vulkan"]
    assert len(vulkan) == 1 and vulkan[0]["is_gpu"] and "llvmpipe" in vulkan[0]["description"]
    assert 0 < vulkan[0]["free"] <= vulkan[0]["total"]
    assert on_device["machine"] == {"backend": "Vulkan", "gpu_free": vulkan[0]["free"]}
    plan = on_device["plan_tiny"]
    assert plan["badge"] == BADGE_GPU and plan["n_gpu_layers"] == -1
    # Too big for the device: reduced to experts on CPU, within the device's memory, and said so.
    big = on_device["plan_big_moe"]
    assert big["badge"] == BADGE_EXPERTS_CPU and 0 < big["n_cpu_moe"] < 24
    assert big["gpu_bytes"] <= vulkan[0]["free"] - GPU_OVERHEAD
    assert f"experts of {big['n_cpu_moe']} of 24 layers stay in RAM" in big["reason"]
    # Too big for the device and the RAM: refused before anything loads, with the reason.
    refused = on_device["plan_too_big"]
    assert refused["badge"] == BADGE_NO and "this machine has" in refused["reason"]


def test_loading_offloads_what_the_plan_says(on_device: dict[str, Any], tiny_gptoss_path: Path):
    full = on_device["full"]
    assert full["fit"] == BADGE_GPU
    where = re.fullmatch(r"GPU \(Vulkan: llvmpipe.*\), (\d+) of \1 layers", full["device"])
    assert where is not None, full["device"]
    n_layer = int(where.group(1))
    # llama.cpp's own report: every layer assigned to Vulkan0, all layers (+ output) offloaded,
    # weights, KV cache and compute buffers on the device.
    assigned = _lines(full, r"layer +(\d+) assigned to device (\S+),")
    # (llama.cpp numbers the output layer n_layer)
    assert sorted(int(m.group(1)) for m in assigned if m.group(2) == "Vulkan0") == list(range(n_layer + 1))
    assert _lines(full, rf"offloaded {n_layer + 1}/{n_layer + 1} layers to GPU")
    for what in ("model buffer size", "KV buffer size", "compute buffer size"):
        assert _lines(full, rf"Vulkan0 {what}"), what
    assert full["turn1"]["generated"] > 0


def test_kv_reuse_on_the_device_matches_fresh_and_cpu(on_device: dict[str, Any], tiny_gptoss_path: Path):
    full = on_device["full"]
    assert full["n_past_after_turn1"] > 8, "turn 1 must overrun the 4-token sliding window"
    reused, fresh = full["turn2_reused"], full["turn2_fresh"]
    assert full["restores"] == 1 and reused["reused"] > full["turn1"]["prompt_tokens"] // 2
    assert fresh["reused"] == 0 and fresh["generated"] > 0
    assert (reused["reasoning"], reused["answer"]) == (fresh["reasoning"], fresh["answer"])
    # ... and the same greedy tokens as the CPU backend.
    cpu = LlamaEngine()
    cpu.load(str(tiny_gptoss_path), LoadConfig(n_ctx=1024, n_batch=64, n_gpu_layers=0))
    assert cpu.info is not None and cpu.info.device == "CPU"
    request = ChatRequest(messages=(Message("user", "Tell me a long story about the sea and the sky."),
                                    Message("assistant", "Sure, here it is."),
                                    Message("user", "And then what happened next?")),
                          max_tokens=24, sampling=Sampling.greedy())
    events = list(cpu.stream(request))
    cpu.unload()
    on_cpu = ("".join(e.text for e in events if isinstance(e, ReasoningDelta)),
              "".join(e.text for e in events if isinstance(e, AnswerDelta)))
    assert on_cpu == (fresh["reasoning"], fresh["answer"])


def test_experts_on_cpu_stay_in_host_memory(on_device: dict[str, Any]):
    part = on_device["experts_cpu"]
    n = part["n_cpu_moe"]
    # Host memory: llama.cpp turns the CPU buffer type into the GPU backend's pinned host buffer
    # (Vulkan_Host) when it has one, as llama.cpp's own --n-cpu-moe does; weights and biases.
    overridden = {m.group(1) for m in _lines(part, r"tensor (\S+) \(.*overridden to (CPU|Vulkan_Host)$")}
    expected = {f"blk.{i}.ffn_{w}_exps.{k}" for i in range(n) for w in ("up", "down", "gate")
                for k in ("weight", "bias")}
    assert overridden == expected
    assert all(any(re.search(p, name) for p in expert_override_patterns(n)) for name in overridden)
    assigned = _lines(part, r"layer +(\d+) assigned to device (\S+),")
    assert assigned and {m.group(2) for m in assigned} == {"Vulkan0"}
    assert _lines(part, r"CPU(_Mapped)? model buffer size") and _lines(part, r"Vulkan0 model buffer size")
    assert part["device"].endswith(f"experts of {n} in RAM")
    assert part["reply"]["generated"] > 0


def test_without_a_vulkan_driver_the_cpu_runs_and_doctor_says_so(tiny_gptoss_path: Path):
    """The ICD hidden: the Vulkan module loads but finds nothing; never a crash."""
    env = _env(**LAVAPIPE, VK_ICD_FILENAMES="/nonexistent/icd.json", VK_DRIVER_FILES="/nonexistent/icd.json")
    doctor = subprocess.run([sys.executable, "-m", "fireside.cli", "doctor", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    llama = json.loads(doctor.stdout)["llama"]
    assert llama["devices"] == ["CPU"] and llama["backend"] == "CPU"
    assert "vulkan" in llama["backend_modules"]
    assert llama["gpu_note"].startswith("No GPU in use") and "the CPU does the work" in llama["gpu_note"]
    chat = subprocess.run([sys.executable, "-m", "fireside.cli", "chat", "--model", str(tiny_gptoss_path),
                           "--max-tokens", "8", "--no-save", "Hello"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert chat.returncode == 0, chat.stderr[-2000:]
