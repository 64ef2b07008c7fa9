"""Write small LoRA adapter GGUFs with the `gguf` package, as llama.cpp's convert_lora_to_gguf.py does.

An adapter is a GGUF with `general.type = "adapter"`, `adapter.type = "lora"`,
`adapter.lora.alpha` (float32) and, for each adapted weight `W` (ne = [n_in, n_out]), a pair
`W.lora_a` (ne = [n_in, rank]) and `W.lora_b` (ne = [rank, n_out]). numpy's shape is ne reversed,
so lora_a is written as an array of shape (rank, n_in) and lora_b as (n_out, rank).
llama.cpp adds `scale * alpha / rank * B (A x)` to `W x` (alpha 0: `scale * B (A x)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from fireside.core.models.gguf_info import read_gguf

ATTENTION = ("attn_q", "attn_k", "attn_v", "attn_output")


@dataclass(frozen=True)
class Pair:
    a: np.ndarray  # numpy shape (rank, n_in)
    b: np.ndarray  # numpy shape (n_out, rank)


def write_lora(path: Path, arch: str, pairs: Mapping[str, Pair], *, alpha: float = 0.0,
               general_type: str = "adapter") -> Path:
    """Write `pairs` (base tensor name -> A, B) as a LoRA GGUF for `arch`."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_type(general_type)
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", alpha)
    w.add_name(path.stem)
    for name, pair in pairs.items():
        w.add_tensor(f"{name}.lora_a", np.ascontiguousarray(pair.a, dtype=np.float32))
        w.add_tensor(f"{name}.lora_b", np.ascontiguousarray(pair.b, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def random_pairs(model: Path, *, rank: int = 8, targets: tuple[str, ...] = ATTENTION,
                 std: float = 0.5, seed: int = 0, layers: tuple[int, ...] | None = None
                 ) -> dict[str, Pair]:
    """Random A and B for every `targets` weight of `model` (in `layers`, default all)."""
    rng = np.random.default_rng(seed)
    out: dict[str, Pair] = {}
    for t in read_gguf(model).tensors:
        parts = t.name.split(".")
        if len(parts) != 4 or parts[0] != "blk" or parts[2] not in targets or parts[3] != "weight":
            continue
        if layers is not None and int(parts[1]) not in layers:
            continue
        n_in, n_out = t.shape[0], t.shape[1]
        a = rng.normal(0.0, 1.0 / np.sqrt(n_in), (rank, n_in))
        b = rng.normal(0.0, std, (n_out, rank))
        out[t.name] = Pair(a.astype(np.float32), b.astype(np.float32))
    return out


def lora_for(model: Path, path: Path, *, rank: int = 8, alpha: float = 0.0, std: float = 0.5,
             seed: int = 0, targets: tuple[str, ...] = ATTENTION, arch: str | None = None) -> Path:
    pairs = random_pairs(model, rank=rank, targets=targets, std=std, seed=seed)
    return write_lora(path, arch or read_gguf(model).architecture, pairs, alpha=alpha)


def merged(first: Mapping[str, Pair], s: float, second: Mapping[str, Pair], t: float
           ) -> dict[str, Pair]:
    """One adapter whose delta is s*B1A1 + t*B2A2 (alpha 0, scale 1), stacking the ranks:
    [B1*s | B2*t] @ [A1 ; A2]."""
    out: dict[str, Pair] = {}
    for name in sorted(set(first) | set(second)):
        a_parts, b_parts = [], []
        for pairs, scale in ((first, s), (second, t)):
            if name in pairs:
                a_parts.append(pairs[name].a)
                b_parts.append(pairs[name].b * scale)
        out[name] = Pair(np.concatenate(a_parts, axis=0), np.concatenate(b_parts, axis=1))
    return out
