"""The hyperparameter and tensor-shape checks llama.cpp asserts on, done in Python first.

llama.cpp (0.3.36's vendored copy, src/llama-model.cpp `load_hparams` and the per-architecture
`load_arch_hparams` / `load_arch_tensors` in src/models/) stops the whole process with GGML_ASSERT
on some impossible hyperparameters (more experts used than exist, an unknown rope scaling type, a
layer count of 0 or above 512), divides by head counts it never checked, and reports a tensor of
the wrong shape only as three lines of log. Every such value is checked here, before llama.cpp
sees the file, and refused with a sentence a person can act on. The tensor shapes are checked for
the architectures Fireside ships (gpt-oss, gemma3), exactly as their `load_arch_tensors` asks for
them; other architectures get the generic checks and the child-process load check (load_check.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fireside.core.models.gguf_info import GGUFInfo

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
MAX_EXPERTS = 1024  # LLAMA_MAX_EXPERTS
MAX_EMBD = 1 << 20  # no model comes near a million-wide embedding
MAX_HEADS = 1 << 14
MAX_HEAD_DIM = 1 << 14
MAX_CTX = 1 << 26  # 64M tokens
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")
SHIPPED = ("gpt-oss", "gemma3")
# ggml types that are only the other side of a dot product (Q8_1, Q8_K), never a weight: llama.cpp
# loads such a weight and then crashes (SIGSEGV) computing with it. Integers and doubles likewise,
# for the architectures we ship.
INTERMEDIATE_TYPES = (9, 15)
NON_FLOAT_TYPES = (24, 25, 26, 27, 28)
F32 = 0

_DAMAGED = (
    "{name} has impossible model settings ({what}); the file is damaged or was converted wrongly. "
    "Download it again."
)


class _Refused(Exception):
    """Internal: a check failed; read_gguf turns it into a GGUFError with the file's name."""


def _fail(what: str) -> _Refused:
    return _Refused(what)


class _Keys:
    """Typed access to `<arch>.<suffix>` metadata, refusing values of the wrong kind."""

    def __init__(self, info: GGUFInfo) -> None:
        self.meta = info.metadata
        self.arch = info.architecture

    def raw(self, suffix: str) -> object:
        return self.meta.get(f"{self.arch}.{suffix}")

    def uint(self, suffix: str, default: int | None = None, *, required: bool = False) -> int | None:
        v = self.raw(suffix)
        if v is None:
            if required:
                raise _fail(f"{self.arch}.{suffix} is missing")
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 32:
            raise _fail(f"{self.arch}.{suffix} is {_show(v)}, not a count")
        return v

    def per_layer(self, suffix: str, n_layer: int, default: int = 0, *, required: bool = False) -> list[int]:
        """A value llama.cpp reads with get_key_or_arr: one number, or one per layer."""
        v = self.raw(suffix)
        if isinstance(v, list):
            if len(v) != n_layer or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise _fail(f"{self.arch}.{suffix} does not list one number for each of {n_layer} layers")
            if any(not 0 <= x < 1 << 32 for x in v):
                raise _fail(f"{self.arch}.{suffix} has a value out of range")
            return [int(x) for x in v]
        one = self.uint(suffix, default, required=required)
        return [one if one is not None else default] * n_layer

    def real(self, suffix: str, *, required: bool = False) -> float | None:
        v = self.raw(suffix)
        if v is None:
            if required:
                raise _fail(f"{self.arch}.{suffix} is missing")
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _fail(f"{self.arch}.{suffix} is {_show(v)}, not a number")
        return float(v)


def _show(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_model(info: GGUFInfo) -> str | None:
    """None if llama.cpp's hyperparameter asserts and tensor-shape checks would pass, else why not."""
    shipped = info.architecture in SHIPPED
    for t in info.tensors:
        if t.type_id in INTERMEDIATE_TYPES or (shipped and t.type_id in NON_FLOAT_TYPES):
            return _DAMAGED.format(name=info.path.name, what=f"the weight {t.name} is of type {t.type_name}")
        # llama-quantize and the converters keep biases, norms and sinks (every 1-D tensor) in F32
        if shipped and t.type_id != F32 and (len(t.shape) == 1 or t.name.endswith(".bias")):
            return _DAMAGED.format(name=info.path.name, what=f"the weight {t.name} is {t.type_name}, not F32")
    if not info.architecture or f"{info.architecture}.block_count" not in info.metadata:
        return None  # not a language model we can judge here; the child load check decides
    try:
        _check(info)
    except _Refused as e:
        return _DAMAGED.format(name=info.path.name, what=str(e))
    return None


def _check(info: GGUFInfo) -> None:
    k = _Keys(info)
    arch = info.architecture
    n_layer = k.uint("block_count", required=True) or 0
    if not 0 < n_layer <= MAX_LAYERS:
        raise _fail(f"{n_layer} layers")
    n_nextn = k.uint("nextn_predict_layers", 0) or 0
    if n_nextn > n_layer:
        raise _fail(f"{n_nextn} prediction layers for {n_layer} layers")
    n_ctx = k.uint("context_length", required=True) or 0
    if not 0 < n_ctx <= MAX_CTX:
        raise _fail(f"a trained context of {n_ctx:,} tokens")
    n_embd = k.uint("embedding_length", required=True) or 0
    if not 0 < n_embd <= MAX_EMBD:
        raise _fail(f"an embedding length of {n_embd:,}")

    # experts: llama-model.cpp load_hparams, the GGML_ASSERTs after n_expert_used_max()
    n_expert = k.uint("expert_count", 0) or 0
    used = max(k.per_layer("expert_used_count", n_layer))
    groups = k.uint("expert_group_count", 0) or 0
    group_used = k.uint("expert_group_used_count", 0) or 0
    if n_expert > MAX_EXPERTS:
        raise _fail(f"{n_expert:,} experts, more than llama.cpp supports ({MAX_EXPERTS})")
    if used > n_expert:
        raise _fail(f"{used} experts used per token but only {n_expert} exist")
    if n_expert > 0:
        if used == 0:
            raise _fail(f"{n_expert} experts but none used per token")
        if groups >= n_expert:
            raise _fail(f"{groups} expert groups for {n_expert} experts")
        if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
            raise _fail(f"{groups} expert groups, {group_used} used, for {n_expert} experts")
    elif groups:
        raise _fail(f"{groups} expert groups but no experts")

    # attention heads: n_gqa() divides by n_head_kv, head sizes default to n_embd / n_head
    n_head_l = k.per_layer("attention.head_count", n_layer)
    n_head_kv_l = (
        k.per_layer("attention.head_count_kv", n_layer)
        if k.raw("attention.head_count_kv") is not None
        else n_head_l
    )
    n_head, n_head_kv = n_head_l[0], n_head_kv_l[0]
    for il, (h, hkv) in enumerate(zip(n_head_l, n_head_kv_l, strict=True)):
        if h > MAX_HEADS or hkv > h or (hkv and h % hkv) or (h and not hkv and arch in SHIPPED):
            raise _fail(f"{h} attention heads with {hkv} key/value heads in layer {il}")
    head_k = head_v = n_rot = 0
    if n_head > 0:
        head_k = k.uint("attention.key_length", n_embd // n_head) or 0
        head_v = k.uint("attention.value_length", n_embd // n_head) or 0
        n_rot = k.uint("rope.dimension_count", head_k) or 0
        for what, v in (("key", head_k), ("value", head_v)):
            if not 0 < v <= MAX_HEAD_DIM:
                raise _fail(f"attention {what} length {v} for {n_head} heads of a {n_embd}-wide embedding")
        if n_rot > head_k or n_rot % 2:
            raise _fail(f"{n_rot} rotary dimensions for heads of size {head_k}")
    elif arch in SHIPPED:
        raise _fail("no attention heads")

    # rope: an unknown scaling type is a GGML_ASSERT
    scaling = k.raw("rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        raise _fail(f"rope scaling type {_show(scaling)}")
    for suffix in ("rope.freq_base", "rope.freq_base_swa"):
        base = k.real(suffix)
        if base is not None and base <= 0:
            raise _fail(f"{suffix} {base}")
    factor = k.real("rope.scaling.factor")
    if factor is not None and factor < 0:
        raise _fail(f"rope scaling factor {factor}")
    orig = k.uint("rope.scaling.original_context_length", n_ctx) or 0
    if orig == 0 and scaling == "yarn":
        raise _fail("a yarn rope scaling with an original context of 0")

    eps = k.real("attention.layer_norm_rms_epsilon", required=arch in SHIPPED)
    if eps is not None and not 0 < eps < 1:
        raise _fail(f"a norm epsilon of {eps}")

    # sliding window (llama.cpp load_swa_pattern); gpt-oss requires the window size
    n_swa = k.uint("attention.sliding_window", required=arch == "gpt-oss") or 0
    if arch == "gpt-oss" and n_swa == 0:
        raise _fail("a sliding window of 0 tokens")
    pattern = k.raw("attention.sliding_window_pattern")
    if isinstance(pattern, list):
        if len(pattern) != n_layer or not all(isinstance(x, bool) for x in pattern):
            raise _fail(f"a sliding-window pattern that does not list {n_layer} layers")
    elif pattern is not None:
        k.uint("attention.sliding_window_pattern")

    if arch == "gpt-oss":
        if not head_k == head_v == n_rot:  # its graph uses one head size for q, k, v and rope
            raise _fail(f"key length {head_k}, value length {head_v} and {n_rot} rotary dimensions differ")
        n_ff_exp = k.per_layer("expert_feed_forward_length", n_layer, required=True)[0]
        if not 0 < n_ff_exp <= MAX_EMBD * 4:
            raise _fail(f"an expert feed-forward length of {n_ff_exp}")
        if n_expert == 0:
            raise _fail("a gpt-oss model without experts")
        _check_shapes(
            info,
            _gptoss_shapes(n_layer, n_embd, n_head, n_head_kv, n_rot, n_expert, n_ff_exp, len(info.tokens)),
        )
    elif arch == "gemma3":
        n_ff = k.per_layer("feed_forward_length", n_layer, required=True)[0]
        if not 0 < n_ff <= MAX_EMBD * 4:
            raise _fail(f"a feed-forward length of {n_ff}")
        _check_shapes(
            info,
            _gemma3_shapes(n_layer, n_embd, n_head, n_head_kv, head_k, head_v, n_ff, len(info.tokens), info),
        )


# (tensor name, expected shape in ggml order (ne0 first), required)
_Spec = tuple[str, tuple[int, ...], bool]


def _qkv(i: int, n_embd: int, q: int, kk: int, v: int, names: set[str]) -> list[_Spec]:
    """create_tensor_qkv: a fused attn_qkv, or separate q/k/v; biases optional."""
    p = f"blk.{i}."
    if p + "attn_qkv.weight" in names:
        return [
            (p + "attn_qkv.weight", (n_embd, q + kk + v), True),
            (p + "attn_qkv.bias", (q + kk + v,), False),
            (p + "attn_q.bias", (q,), False),
            (p + "attn_k.bias", (kk,), False),
            (p + "attn_v.bias", (v,), False),
        ]
    return [
        (p + "attn_q.weight", (n_embd, q), True),
        (p + "attn_k.weight", (n_embd, kk), True),
        (p + "attn_v.weight", (n_embd, v), True),
        (p + "attn_q.bias", (q,), False),
        (p + "attn_k.bias", (kk,), False),
        (p + "attn_v.bias", (v,), False),
    ]


def _gptoss_shapes(
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_head_kv: int,
    n_rot: int,
    n_expert: int,
    n_ff_exp: int,
    n_vocab: int,
) -> list[_Spec]:
    """models/openai-moe.cpp load_arch_tensors."""
    return [
        ("token_embd.weight", (n_embd, n_vocab), True),
        ("output_norm.weight", (n_embd,), True),
        ("output.weight", (n_embd, n_vocab), True),
    ] + [
        spec
        for i in range(n_layer)
        for spec in [
            (f"blk.{i}.attn_norm.weight", (n_embd,), True),
            (f"blk.{i}.post_attention_norm.weight", (n_embd,), True),
            ("@qkv", (i, n_embd, n_head * n_rot, n_head_kv * n_rot, n_head_kv * n_rot), True),
            (f"blk.{i}.attn_output.weight", (n_head * n_rot, n_embd), True),
            (f"blk.{i}.attn_sinks.weight", (n_head,), True),
            (f"blk.{i}.ffn_gate_inp.weight", (n_embd, n_expert), True),
            (f"blk.{i}.ffn_gate_exps.weight", (n_embd, n_ff_exp, n_expert), True),
            (f"blk.{i}.ffn_down_exps.weight", (n_ff_exp, n_embd, n_expert), True),
            (f"blk.{i}.ffn_up_exps.weight", (n_embd, n_ff_exp, n_expert), True),
            (f"blk.{i}.attn_output.bias", (n_embd,), True),
            (f"blk.{i}.ffn_gate_inp.bias", (n_expert,), True),
            (f"blk.{i}.ffn_gate_exps.bias", (n_ff_exp, n_expert), True),
            (f"blk.{i}.ffn_down_exps.bias", (n_embd, n_expert), True),
            (f"blk.{i}.ffn_up_exps.bias", (n_ff_exp, n_expert), True),
        ]
    ]


def _gemma3_shapes(
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_head_kv: int,
    head_k: int,
    head_v: int,
    n_ff: int,
    n_vocab: int,
    info: GGUFInfo,
) -> list[_Spec]:
    """models/gemma3.cpp load_arch_tensors (output.weight optional: tied to the embedding)."""
    specs: list[_Spec] = [
        ("token_embd.weight", (n_embd, n_vocab), True),
        ("output_norm.weight", (n_embd,), True),
        ("output.weight", (n_embd, n_vocab), False),
    ]
    for i in range(n_layer):
        p = f"blk.{i}."
        specs += [
            (p + "attn_norm.weight", (n_embd,), True),
            ("@qkv", (i, n_embd, head_k * n_head, head_k * n_head_kv, head_v * n_head_kv), True),
            (p + "attn_output.weight", (head_k * n_head, n_embd), True),
            (p + "post_attention_norm.weight", (n_embd,), True),
            (p + "attn_k_norm.weight", (head_k,), True),
            (p + "attn_q_norm.weight", (head_k,), True),
            (p + "ffn_norm.weight", (n_embd,), True),
            (p + "ffn_gate.weight", (n_embd, n_ff), True),
            (p + "ffn_up.weight", (n_embd, n_ff), True),
            (p + "ffn_down.weight", (n_ff, n_embd), True),
            (p + "post_ffw_norm.weight", (n_embd,), True),
        ]
    return specs


def _check_shapes(info: GGUFInfo, specs: Sequence[_Spec]) -> None:
    """llama_model_loader::check_tensor_dims: every required tensor present with exactly this shape."""
    shapes = {t.name: t.shape for t in info.tensors}
    names = set(shapes)
    expanded: list[_Spec] = []
    for name, shape, required in specs:
        if name == "@qkv":
            i, n_embd, q, kk, v = shape
            expanded += _qkv(i, n_embd, q, kk, v, names)
        else:
            expanded.append((name, shape, required))
    for name, want, required in expanded:
        have = shapes.get(name)
        if have is None:
            if required:
                raise _fail(f"the weight {name} is missing")
            continue
        if tuple(have) != want:
            raise _fail(f"the weight {name} has shape {list(have)}, llama.cpp expects {list(want)}")
    # llama_model_loader::done_getting_tensors: every weight in the file must have been asked for
    extra = names - {name for name, _, _ in expanded}
    if extra:
        raise _fail(f"{len(extra)} weight(s) this model does not use, such as {min(extra)}")
