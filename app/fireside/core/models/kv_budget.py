"""KV-cache memory from GGUF metadata, so the fit planner can size a context before loading.

For a sliding-window layer llama.cpp keeps n_ctx cells when `swa_full` is on, and only
window + one micro-batch (padded to 256) when it is off. For gpt-oss-20b (24 layers, half of them
with a 128-token window, 8 KV heads of 64, f16) that is 48 KiB per token with swa_full and
24 KiB per token plus a constant 15 MiB without: 6 GiB against 3 GiB at the full 131,072 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from fireside.core.models.gguf_info import GGUFInfo

F16_BYTES = 2
CELL_PAD = 256


@dataclass(frozen=True)
class KVBudget:
    full_layers: int
    swa_layers: int
    bytes_per_cell_layer: int  # K + V for one position in one layer
    full_cells: int
    swa_cells: int

    @property
    def total_bytes(self) -> int:
        return self.bytes_per_cell_layer * (
            self.full_layers * self.full_cells + self.swa_layers * self.swa_cells
        )


def _pad(n: int) -> int:
    return -(-n // CELL_PAD) * CELL_PAD


def _swa_layer_flags(gguf: GGUFInfo, n_layer: int, n_swa: int) -> list[bool]:
    """Which layers use the window, following llama.cpp's per-architecture patterns."""
    if n_swa <= 0:
        return [False] * n_layer
    arch = gguf.architecture
    pattern = gguf.arch_key("attention.sliding_window_pattern")
    if isinstance(pattern, list) and len(pattern) == n_layer:
        return [bool(x) for x in pattern]
    if arch == "gpt-oss":
        return [i % 2 == 0 for i in range(n_layer)]  # even layers slide, odd layers see all
    if arch == "gemma3":
        return [(i + 1) % 6 != 0 for i in range(n_layer)]  # 5 local : 1 global
    if arch == "gemma2":
        return [i % 2 == 0 for i in range(n_layer)]
    return [True] * n_layer


def kv_budget(gguf: GGUFInfo, n_ctx: int, *, swa_full: bool, n_ubatch: int = 512) -> KVBudget:
    n_layer = int(gguf.arch_key("block_count", 0) or 0)
    n_head = int(gguf.arch_key("attention.head_count", 0) or 0)
    n_head_kv = gguf.arch_key("attention.head_count_kv", n_head)
    if isinstance(n_head_kv, list):
        n_head_kv = max(n_head_kv)
    n_embd = int(gguf.arch_key("embedding_length", 0) or 0)
    head_k = int(gguf.arch_key("attention.key_length", 0) or (n_embd // max(n_head, 1)))
    head_v = int(gguf.arch_key("attention.value_length", 0) or head_k)
    n_swa = int(gguf.arch_key("attention.sliding_window", 0) or 0)
    flags = _swa_layer_flags(gguf, n_layer, n_swa)
    n_swa_layers = sum(flags)
    cells = _pad(n_ctx)
    swa_cells = cells if swa_full else min(cells, _pad(n_swa + n_ubatch))
    return KVBudget(
        full_layers=n_layer - n_swa_layers,
        swa_layers=n_swa_layers,
        bytes_per_cell_layer=int(n_head_kv) * (head_k + head_v) * F16_BYTES,
        full_cells=cells,
        swa_cells=swa_cells,
    )
