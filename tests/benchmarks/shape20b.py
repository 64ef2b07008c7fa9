"""A GGUF with gpt-oss-20b's real shape and random weights (~12 GB), for honest engine benchmarks.

Why: the tiny test model shows per-token Python overhead but not what the app spends its time on
with the real model: 24 layers, a 201,088-token vocabulary (the output head alone is 615 MB), and
MXFP4 experts. The real file cannot be downloaded here, so we write one with the same tensor
list, shapes and types, filled with random bytes.

Tensor types follow ggml-org/gpt-oss-20b-GGUF (gpt-oss-20b-mxfp4.gguf, 12.1 GB; llama.cpp
reports "f32: 289, q8_0: 98, mxfp4: 72 tensors"): the 72 expert matrices in MXFP4; token
embedding, output head and the four attention matrices of every layer in Q8_0 (24 x 4 + 2 = 98);
norms, biases, attention sinks and the router in F32 (24 x 12 + output_norm = 289). The file
size confirms it: with those non-expert matrices in F16 the file would be 13.8 GB (unsloth's F16
file), not 12.1 GB.

Generation writes quantized blocks directly as random bytes (no float quantization), one tensor
at a time (the largest is 615 MB), so it takes about as long as the disk needs for 12 GB.
MXFP4 blocks get E8M0 scales 119..121 and Q8_0 blocks an F16 scale chosen per tensor, so every
weight is finite and moderate. Output-head rows of all control tokens are zero (as in the tiny
model), so greedy decoding never picks an end token and always runs for max_tokens.

Run: `python -m tests.benchmarks.shape20b` builds (or finds) the file and prints its path.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from tests.benchmarks.common import BENCH_CACHE
from tests.benchmarks.o200k_vocab import HARMONY_BASE_ID, o200k_tokens_and_merges
from tests.helpers import tiny_gptoss as tiny
from tests.helpers.model_cache import cached_file

#: Bump when the bytes written change.
GENERATOR_VERSION = 2  # 2: gpt-oss's real tokenizer (was the tiny model's)
N_VOCAB = 201_088


@dataclass(frozen=True)
class Shape:
    """gpt-oss-20b's hyper-parameters (openai/gpt-oss-20b config.json)."""

    n_layer: int = 24
    n_embd: int = 2880
    n_head: int = 64
    n_head_kv: int = 8
    head_dim: int = 64
    n_expert: int = 32
    n_expert_used: int = 4
    n_ff_exp: int = 2880
    sliding_window: int = 128
    n_ctx_train: int = 131_072
    rope_freq_base: float = 150_000.0
    rope_yarn_factor: float = 32.0
    rms_norm_eps: float = 1e-5


SHAPE = Shape()
Q8 = gguf.GGMLQuantizationType.Q8_0
MXFP4 = gguf.GGMLQuantizationType.MXFP4


# ------------------------------------------------------------------------------------ vocabulary
def build_vocab() -> tuple[list[str], list[int], list[str], dict[str, int]]:
    """201,088 tokens, as gpt-oss's own o200k_harmony: o200k_base's 199,998 tokens and merges
    (tests/benchmarks/o200k_vocab.py), harmony's special block at its real ids, then
    <|reserved_N|> up to the end. So a prompt is as many tokens here as for the real model."""
    tokens, merges = o200k_tokens_and_merges()
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    specials: dict[str, int] = {}
    for off, text in enumerate(tiny._HARMONY_BLOCK):
        tokens.append(text)
        types.append(int(gguf.TokenType.CONTROL))
        if not text.startswith("<|reserved_"):
            specials[text] = HARMONY_BASE_ID + off
    while len(tokens) < N_VOCAB:
        tokens.append(f"<|reserved_{len(tokens)}|>")
        types.append(int(gguf.TokenType.CONTROL))
    assert specials == tiny.REAL_SPECIAL_TOKEN_IDS, "harmony ids must be the real ones"
    return tokens, types, merges, specials


# --------------------------------------------------------------------------------------- tensors
@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # ggml order reversed (numpy order): rows last-but-one, columns last
    kind: str  # "f32" | "norm" | "q8" | "mxfp4"
    scale: float = 0.0  # weight standard deviation (f32) or Q8_0 block scale
    zero_rows_from: int = -1  # q8 only: rows >= this are all zero (control tokens in the head)

    @property
    def raw_dtype(self) -> gguf.GGMLQuantizationType | None:
        return {"q8": Q8, "mxfp4": MXFP4}.get(self.kind)

    @property
    def byte_shape(self) -> tuple[int, ...]:
        """numpy shape of the stored bytes (quantized) or values (f32)."""
        if self.kind == "q8":
            return (*self.shape[:-1], self.shape[-1] // 32 * 34)
        if self.kind == "mxfp4":
            return (*self.shape[:-1], self.shape[-1] // 32 * 17)
        return self.shape

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.byte_shape)) * (1 if self.raw_dtype else 4)


def tensor_specs(s: Shape = SHAPE) -> list[TensorSpec]:
    """The tensor list of gpt-oss-20b-mxfp4.gguf in the converter's order."""
    q_dim, kv_dim = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    # Q8_0 scales: int8 values are uniform in [-128, 127] (std ~74), so scale = std / 74.
    specs = [TensorSpec("token_embd.weight", (N_VOCAB, s.n_embd), "q8", 1.0 / 74)]
    for il in range(s.n_layer):
        b = f"blk.{il}"
        specs += [
            TensorSpec(f"{b}.attn_norm.weight", (s.n_embd,), "norm"),
            TensorSpec(f"{b}.attn_q.weight", (q_dim, s.n_embd), "q8", 0.02 / 74),
            TensorSpec(f"{b}.attn_q.bias", (q_dim,), "f32", 0.02),
            TensorSpec(f"{b}.attn_k.weight", (kv_dim, s.n_embd), "q8", 0.02 / 74),
            TensorSpec(f"{b}.attn_k.bias", (kv_dim,), "f32", 0.02),
            TensorSpec(f"{b}.attn_v.weight", (kv_dim, s.n_embd), "q8", 0.02 / 74),
            TensorSpec(f"{b}.attn_v.bias", (kv_dim,), "f32", 0.02),
            TensorSpec(f"{b}.attn_output.weight", (s.n_embd, q_dim), "q8", 0.02 / 74),
            TensorSpec(f"{b}.attn_output.bias", (s.n_embd,), "f32", 0.02),
            TensorSpec(f"{b}.attn_sinks.weight", (s.n_head,), "f32", 0.5),
            TensorSpec(f"{b}.post_attention_norm.weight", (s.n_embd,), "norm"),
            TensorSpec(f"{b}.ffn_gate_inp.weight", (s.n_expert, s.n_embd), "f32", 0.02),
            TensorSpec(f"{b}.ffn_gate_inp.bias", (s.n_expert,), "f32", 0.02),
        ]
        for kind, rows, cols in (("gate", s.n_ff_exp, s.n_embd), ("up", s.n_ff_exp, s.n_embd),
                                 ("down", s.n_embd, s.n_ff_exp)):
            specs.append(TensorSpec(f"{b}.ffn_{kind}_exps.weight", (s.n_expert, rows, cols), "mxfp4"))
            specs.append(TensorSpec(f"{b}.ffn_{kind}_exps.bias", (s.n_expert, rows), "f32", 0.02))
    specs.append(TensorSpec("output_norm.weight", (s.n_embd,), "norm"))
    specs.append(TensorSpec("output.weight", (N_VOCAB, s.n_embd), "q8", 0.001,
                            zero_rows_from=HARMONY_BASE_ID))
    return specs


def tensor_data(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """Random contents of one tensor, as the array GGUFWriter writes (bytes for quantized)."""
    if spec.kind == "norm":
        return (1.0 + rng.standard_normal(spec.shape) * 0.05).astype(np.float32)
    if spec.kind == "f32":
        return (rng.standard_normal(spec.shape) * spec.scale).astype(np.float32)
    raw = np.frombuffer(rng.bytes(spec.nbytes), dtype=np.uint8).copy().reshape(spec.byte_shape)
    if spec.kind == "mxfp4":
        blocks = raw.reshape(-1, 17)
        blocks[:, 0] = 119 + blocks[:, 0] % 3  # E8M0 exponents in a sane range: finite, moderate weights
    else:
        blocks = raw.reshape(-1, 34)
        blocks[:, 0:2] = np.frombuffer(np.float16(spec.scale).tobytes(), dtype=np.uint8)
        if spec.zero_rows_from >= 0:
            raw[spec.zero_rows_from:] = 0  # scale 0, values 0: the logit is exactly 0
    return raw


# ----------------------------------------------------------------------------------------- write
def _writer(path: Path, name: str) -> gguf.GGUFWriter:
    """A GGUF writer holding the shape's metadata and vocabulary, no tensors yet."""
    s = SHAPE
    tokens, types, merges, specials = build_vocab()
    w = gguf.GGUFWriter(path, tiny.ARCH)
    tiny.add_gptoss_metadata(w, s, name=name, size_label="20B", n_ctx_train=s.n_ctx_train,
                             sliding_window=s.sliding_window, tokens=tokens, token_types=types,
                             merges=merges, specials=specials)
    return w


def write_vocab_only(path: Path) -> Path:
    """The shape's metadata and vocabulary without tensors (13 MB), for llama.cpp's vocab_only
    load: the tokenizer check of tests/benchmarks/test_quick_o200k_vocab.py."""
    w = _writer(path, "gpt-oss-20b shape vocabulary")
    w.write_header_to_file(path)
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return path


def write_shape20b(path: Path, *, seed: int = 0, progress: Callable[[str], None] | None = None) -> Path:
    """Write the file tensor by tensor (never more than one tensor in memory)."""
    w = _writer(path, "gpt-oss-20b shape (random weights, benchmark)")
    specs = tensor_specs(SHAPE)
    for spec in specs:
        dtype = np.uint8 if spec.raw_dtype is not None else np.float32
        w.add_tensor_info(spec.name, spec.byte_shape, np.dtype(dtype), spec.nbytes, raw_dtype=spec.raw_dtype)
    w.write_header_to_file(path)
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    done = 0
    total = sum(sp.nbytes for sp in specs)
    for i, spec in enumerate(specs):
        w.write_tensor_data(tensor_data(spec, np.random.default_rng([seed, i])))
        done += spec.nbytes
        if progress and (i % 16 == 0 or i == len(specs) - 1):
            progress(f"{done / 1e9:6.2f} / {total / 1e9:.2f} GB  {spec.name}")
    w.close()
    return path


def _key(seed: int) -> str:
    """Keyed on what decides the bytes (not this file's text, so editing a docstring does not
    throw away 12 GB): the generator version, the seed, the harmony block and the template."""
    h = hashlib.sha256(f"{GENERATOR_VERSION}|{seed}|{SHAPE}|o200k_base".encode())
    h.update("\n".join([*tiny._HARMONY_BLOCK, tiny.CHAT_TEMPLATE]).encode())
    return h.hexdigest()[:12]


def shape20b_path(cache_dir: Path | None = None, *, seed: int = 0) -> Path:
    """Where the 20b-shape GGUF is (or would be) cached; nothing is built."""
    directory = Path(cache_dir) if cache_dir else BENCH_CACHE
    return directory / f"gpt-oss-20b-shape-s{seed}-{_key(seed)}.gguf"


def cached_shape20b(cache_dir: Path | None = None, *, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> Path:
    """The 20b-shape GGUF in ~/.cache/fireside-bench (built once, atomically; ~12 GB)."""
    target = shape20b_path(cache_dir, seed=seed)
    return cached_file(target, lambda tmp: write_shape20b(tmp, seed=seed, progress=progress))


if __name__ == "__main__":
    t0 = time.perf_counter()
    p = cached_shape20b(progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{p} ({p.stat().st_size / 1e9:.2f} GB, {time.perf_counter() - t0:.0f} s)")
