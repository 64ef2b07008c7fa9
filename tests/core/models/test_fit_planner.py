"""Fit plans for the machines people own, with their memory figures as inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fireside.core.models.fit_planner import (
    BADGE_CPU,
    BADGE_EXPERTS_CPU,
    BADGE_GPU,
    BADGE_NO,
    GPT_OSS_20B,
    Machine,
    describe_plan,
    detect_machine,
    expert_override_patterns,
    load_config_for,
    plan_fit,
    plan_for_file,
    profile_from_gguf,
)
from fireside.core.models.gguf_info import read_gguf
from tests.helpers.machine import gpus

GiB = 1 << 30

CASES = [
    # name, machine, badge, n_ctx, n_cpu_moe
    ("RTX 4090 24 GB", Machine(64 * GiB, "CUDA", int(23 * GiB)), BADGE_GPU, 131_072, 0),
    ("16 GB GPU, 15 GiB free", Machine(32 * GiB, "CUDA", 15 * GiB), BADGE_GPU, 131_072, 0),
    ("16 GB GPU driving 2 displays", Machine(32 * GiB, "CUDA", 14 * GiB), BADGE_GPU, 65_536, 0),
    ("12 GB GPU", Machine(32 * GiB, "CUDA", 11 * GiB), BADGE_EXPERTS_CPU, 32_768, 4),
    ("8 GB GPU", Machine(16 * GiB, "Vulkan", 7 * GiB), BADGE_EXPERTS_CPU, 32_768, 14),
    ("8 GB GPU, 8 GB RAM", Machine(8 * GiB, "CUDA", 7 * GiB), BADGE_EXPERTS_CPU, 16_384, 13),
    ("6 GB GPU, 6 GB RAM", Machine(6 * GiB, "CUDA", 5 * GiB), BADGE_NO, 4_096, 0),
    ("2 GB GPU falls back to CPU", Machine(32 * GiB, "CUDA", 2 * GiB), BADGE_CPU, 16_384, 0),
    ("CPU laptop 16 GB", Machine(16 * GiB), BADGE_CPU, 16_384, 0),
    ("CPU laptop 8 GB", Machine(8 * GiB), BADGE_NO, 4_096, 0),
    ("M-series 32 GB", Machine(32 * GiB, "Metal", int(21.3 * GiB), unified=True), BADGE_GPU, 131_072, 0),
    ("M-series 16 GB", Machine(16 * GiB, "Metal", int(10.7 * GiB), unified=True),
     BADGE_EXPERTS_CPU, 32_768, 5),
    ("M-series 8 GB", Machine(8 * GiB, "Metal", int(5.3 * GiB), unified=True), BADGE_NO, 4_096, 0),
]


@pytest.mark.parametrize(("name", "machine", "badge", "n_ctx", "n_cpu_moe"), CASES,
                         ids=[c[0] for c in CASES])
def test_gpt_oss_20b_plans(name: str, machine: Machine, badge: str, n_ctx: int, n_cpu_moe: int):
    plan = plan_fit(GPT_OSS_20B, machine)
    assert (plan.badge, plan.n_ctx, plan.n_cpu_moe) == (badge, n_ctx, n_cpu_moe), plan.reason
    assert len(plan.overrides) == n_cpu_moe
    if plan.badge in (BADGE_GPU, BADGE_EXPERTS_CPU):
        assert plan.gpu_bytes <= machine.gpu_free - GiB
        assert plan.n_gpu_layers == -1
    if plan.badge == BADGE_CPU:
        assert plan.n_gpu_layers == 0
    assert plan.reason and plan.flash_attn == plan.fits


def test_max_ctx_is_respected():
    plan = plan_fit(GPT_OSS_20B, Machine(64 * GiB, "CUDA", 23 * GiB), max_ctx=8192)
    assert plan.badge == BADGE_GPU and plan.n_ctx == 8192


def test_kv_matches_the_kv_budget_arithmetic():
    # 24 KiB per token for the 12 full-attention layers plus a constant window for the other 12
    assert GPT_OSS_20B.kv_bytes(131_072) == 24 * 1024 * 131_072 + 12 * 2048 * 768


def test_override_patterns_match_only_expert_tensors_of_those_layers():
    pats = [re.compile(p) for p in expert_override_patterns(2)]
    hit = lambda name: any(p.search(name) for p in pats)  # noqa: E731
    assert hit("blk.0.ffn_up_exps.weight") and hit("blk.1.ffn_gate_exps.bias")
    assert not hit("blk.2.ffn_down_exps.weight") and not hit("blk.12.ffn_up_exps.weight")
    assert not hit("blk.0.attn_q.weight") and not hit("blk.0.ffn_gate_inp.weight")


def test_profile_from_a_real_gguf(tiny_gptoss_path: Path):
    g = read_gguf(tiny_gptoss_path)
    p = profile_from_gguf(g)
    assert p.n_layer == 4 and p.weights == sum(t.n_bytes for t in g.tensors)
    assert p.expert_bytes_per_layer == 3 * (8704 + 1024)
    assert plan_fit(p, Machine(8 * GiB)).badge == BADGE_CPU


def test_detect_machine_here_reports_ram():
    m = detect_machine()
    assert m.ram_total > GiB
    found = gpus()  # what llama.cpp sees here: a CPU-only machine, or one with GPUs
    if found:
        assert m.backend in {d.kind for d in found} and m.gpu_free > 0
    else:
        assert (m.backend, m.gpu_free) == ("CPU", 0)


def test_plan_becomes_the_engine_config():
    plan = plan_fit(GPT_OSS_20B, Machine(16 * GiB, "Vulkan", 7 * GiB))
    config = load_config_for(plan)
    assert (config.n_ctx, config.n_gpu_layers, config.flash_attn, config.swa_full) == (
        32_768, -1, True, False)
    assert config.cpu_tensor_patterns == plan.overrides and len(plan.overrides) == 14


def test_plan_for_file_and_its_description(tiny_gptoss_path: Path):
    plan = plan_for_file(str(tiny_gptoss_path), Machine(16 * GiB), max_ctx=2048)
    rows = dict(describe_plan(plan))
    assert rows["How it runs"] == plan.badge and rows["Context"] == "2,048 tokens"
    assert rows["On the GPU"].startswith("None") and rows["Experts on CPU"] == "None"
    partial = plan_fit(GPT_OSS_20B, Machine(32 * GiB, "CUDA", 8 * GiB))
    assert dict(describe_plan(partial))["Experts on CPU"].startswith(
        f"Experts of {partial.n_cpu_moe} layers")
