"""This machine's memory, and a fit plan for a model on it, computed before anything downloads.

gpt-oss is a mixture of experts: of ~12 GB, ~10 GB are expert weights that each token touches only
a few of. So when a GPU cannot hold everything, the winning move is llama.cpp's `--n-cpu-moe N`:
keep attention, router and shared weights (plus the KV cache) on the GPU and leave the experts of
the first N layers in RAM. llama-cpp-python has no such parameter; the plan expresses it as
llama.cpp tensor buffer-type overrides (pattern -> CPU), the same regexes llama.cpp builds.

The plan is explained to the user and every number in it is an override, not a verdict.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from fireside.core.engine.devices import devices
from fireside.core.engine.protocol import LoadConfig
from fireside.core.models.gguf_info import GGUFInfo, read_gguf
from fireside.core.models.kv_budget import kv_budget
from fireside.core.units import human_bytes

GiB = 1 << 30
GPU_OVERHEAD = 1 * GiB  # compute buffers and driver slack; llama.cpp needs ~0.5–1 GiB here
RAM_RESERVE = 2 * GiB  # leave the OS and the app room to breathe
CONTEXTS = (131_072, 65_536, 32_768, 16_384, 8_192, 4_096)
PARTIAL_CTX_CAP = 32_768  # with experts on CPU, every GiB of GPU is better spent on experts
CPU_CTX_CAP = 16_384  # prompt processing on CPU makes longer contexts impractical by default

BADGE_GPU = "Runs fully on GPU"
BADGE_EXPERTS_CPU = "Runs with experts on CPU"
BADGE_CPU = "Runs on CPU, slow"
BADGE_NO = "Won't fit"


@dataclass(frozen=True)
class Machine:
    ram_total: int
    backend: str = "CPU"  # CPU, CUDA, Metal, Vulkan, ...
    gpu_free: int = 0  # bytes llama.cpp may use on the GPU (Metal: the recommended working set)
    unified: bool = False  # Apple silicon: GPU memory is the same RAM

    @property
    def has_gpu(self) -> bool:
        return self.backend != "CPU" and self.gpu_free > 0


@dataclass(frozen=True)
class ModelProfile:
    """Just the sizes the planner needs; from a GGUF header or, before download, the catalog."""

    weights: int
    expert_bytes_per_layer: int
    n_layer: int
    kv_per_cell_layer: int
    full_layers: int
    swa_layers: int
    swa_cells: int
    trained_ctx: int
    # llama.cpp always keeps the input embedding table in host memory ("very little benefit to
    # offloading the input layer"): 0.6 GB of gpt-oss-20b that never needs GPU memory.
    host_only: int = 0

    @property
    def gpu_weights(self) -> int:
        return self.weights - self.host_only

    def kv_bytes(self, n_ctx: int) -> int:
        cells = -(-n_ctx // 256) * 256
        return self.kv_per_cell_layer * (self.full_layers * cells
                                         + self.swa_layers * min(cells, self.swa_cells))


def profile_from_gguf(g: GGUFInfo) -> ModelProfile:
    n_layer = int(g.arch_key("block_count", 0) or 0)
    experts = sum(t.n_bytes for t in g.tensors if "_exps." in t.name)
    trained = g.context_length or 4096
    kv = kv_budget(g, trained, swa_full=False)
    return ModelProfile(weights=sum(t.n_bytes for t in g.tensors),
                        host_only=sum(t.n_bytes for t in g.tensors if t.name == "token_embd.weight"),
                        expert_bytes_per_layer=experts // max(n_layer, 1), n_layer=n_layer,
                        kv_per_cell_layer=kv.bytes_per_cell_layer, full_layers=kv.full_layers,
                        swa_layers=kv.swa_layers, swa_cells=kv.swa_cells, trained_ctx=trained)


# gpt-oss-20b as ggml-org publishes it (24 layers, 3 MXFP4 expert tensors of ~141 MB per layer,
# 8 KV heads of 64, even layers with a 128-token window): the planner's input before download.
GPT_OSS_20B = ModelProfile(weights=12_100_000_000, expert_bytes_per_layer=3 * 141_000_000,
                           n_layer=24, kv_per_cell_layer=8 * 128 * 2, full_layers=12,
                           swa_layers=12, swa_cells=768, trained_ctx=131_072,
                           host_only=201_088 * 2880 * 17 // 16)  # token_embd, Q8_0


@dataclass(frozen=True)
class Plan:
    badge: str
    n_gpu_layers: int  # -1: all
    n_cpu_moe: int  # layers whose experts stay in RAM
    n_ctx: int
    flash_attn: bool
    gpu_bytes: int
    ram_bytes: int
    reason: str
    overrides: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.badge != BADGE_NO


def load_config_for(plan: Plan, *, n_threads: int | None = None) -> LoadConfig:
    """What the engine should be given for this plan; the advanced panel may override any field."""
    return LoadConfig(n_ctx=plan.n_ctx, n_threads=n_threads, n_gpu_layers=plan.n_gpu_layers,
                      flash_attn=plan.flash_attn, swa_full=False,
                      cpu_tensor_patterns=plan.overrides)


def expert_override_patterns(n_cpu_moe: int) -> tuple[str, ...]:
    """The regexes llama.cpp's --n-cpu-moe builds: experts of layers 0..N-1 stay on the CPU."""
    return tuple(rf"blk\.{i}\.ffn_(up|down|gate)_exps" for i in range(n_cpu_moe))


def plan_fit(model: ModelProfile, machine: Machine, *, max_ctx: int | None = None) -> Plan:
    ceiling = min(max_ctx or model.trained_ctx, model.trained_ctx)
    ctxs = [c for c in CONTEXTS if c <= ceiling] or [ceiling]
    ram_budget = machine.ram_total - RAM_RESERVE
    if machine.has_gpu:
        budget = machine.gpu_free - GPU_OVERHEAD
        for n_ctx in ctxs:
            need = model.gpu_weights + model.kv_bytes(n_ctx)
            if need <= budget and (not machine.unified or need + model.host_only <= ram_budget):
                return Plan(BADGE_GPU, -1, 0, n_ctx, True, need, model.host_only,
                            f"All {human_bytes(model.weights)} of weights and a {n_ctx:,}-token context "
                            f"fit in {human_bytes(machine.gpu_free)} of {machine.backend} memory.")
        for n_ctx in (c for c in ctxs if c <= PARTIAL_CTX_CAP):
            need = model.gpu_weights + model.kv_bytes(n_ctx)
            per = max(model.expert_bytes_per_layer, 1)
            n_cpu = max(0, -(-(need - budget) // per))
            if n_cpu > model.n_layer:
                continue
            gpu = need - n_cpu * model.expert_bytes_per_layer
            ram = n_cpu * model.expert_bytes_per_layer + model.host_only
            if (gpu + ram if machine.unified else ram) > ram_budget:
                continue
            return Plan(BADGE_EXPERTS_CPU, -1, n_cpu, n_ctx, True, gpu, ram,
                        f"Attention and shared weights go to the GPU; the experts of {n_cpu} of "
                        f"{model.n_layer} layers stay in RAM ({human_bytes(ram)}).",
                        expert_override_patterns(n_cpu))
    for n_ctx in (c for c in ctxs if c <= CPU_CTX_CAP):
        need = model.weights + model.kv_bytes(n_ctx)
        if need <= ram_budget:
            return Plan(BADGE_CPU, 0, 0, n_ctx, True, 0, need,
                        f"Runs from {human_bytes(need)} of RAM on the CPU: it works, but replies are slow.")
    need = model.weights + model.kv_bytes(ctxs[-1]) + RAM_RESERVE
    return Plan(BADGE_NO, 0, 0, ctxs[-1], False, 0, need,
                f"Needs about {human_bytes(need)} of memory; "
                f"this machine has {human_bytes(machine.ram_total)}.")


def plan_for_file(path: str, machine: Machine, *, max_ctx: int | None = None) -> Plan:
    """The plan for a GGUF on disk: reads its header (raises GGUFError), so call it off the GUI."""
    return plan_fit(profile_from_gguf(read_gguf(path)), machine, max_ctx=max_ctx)


def describe_plan(plan: Plan, n_layer: int | None = None) -> list[tuple[str, str]]:
    """The plan as (what, value) rows a person can read, for the advanced load-settings panel."""
    if plan.n_gpu_layers < 0:
        gpu = "All layers"
    elif plan.n_gpu_layers == 0:
        gpu = "None (the CPU does the work)"
    else:
        gpu = f"{plan.n_gpu_layers} layers"
    if plan.n_cpu_moe:
        of = f" of {n_layer}" if n_layer else ""
        experts = f"Experts of {plan.n_cpu_moe}{of} layers stay in RAM"
    else:
        experts = "None"
    return [("How it runs", plan.badge), ("On the GPU", gpu), ("Experts on CPU", experts),
            ("Context", f"{plan.n_ctx:,} tokens"),
            ("Flash attention", "On" if plan.flash_attn else "Off")]


# -- detection --------------------------------------------------------------------------------
def _gpu_memory() -> tuple[str, int]:
    """(backend, free bytes) of the GPU with the most free memory, or ("CPU", 0)."""
    gpus = [d for d in devices() if d.kind != "CPU"]
    if not gpus:
        return ("CPU", 0)
    best = max(gpus, key=lambda d: d.free)
    return (best.kind, best.free)


def meminfo_bytes(key: str) -> int:
    """A /proc/meminfo figure in bytes (MemTotal, MemAvailable); sysconf elsewhere; 0 if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if key == "MemTotal" and hasattr(os, "sysconf"):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            pass
    return 0


def detect_machine() -> Machine:
    ram = meminfo_bytes("MemTotal")
    try:
        backend, free = _gpu_memory()
    except (OSError, AttributeError, ImportError):
        backend, free = "CPU", 0
    return Machine(ram_total=ram, backend=backend, gpu_free=free,
                   unified=backend == "Metal" and sys.platform == "darwin")
