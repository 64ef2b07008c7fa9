"""Build a tiny, genuine gpt-oss GGUF so tests exercise the real llama.cpp gpt-oss code path.

The real gpt-oss-20b is 12 GB; tests need something that loads in milliseconds but still goes
through everything that makes gpt-oss special in llama.cpp (arch ``gpt-oss`` /
``LLM_ARCH_OPENAI_MOE``):

* attention with q/k/v/o biases and per-head attention sinks (``attn_sinks``),
* sliding-window attention on every other layer (layers 0, 2, ... are SWA, as in gpt-oss),
  with a tiny window so a test crosses it after a handful of tokens,
* a mixture of experts with a biased router and MXFP4 expert weights plus biases,
* YaRN rope metadata laid out as ``convert_hf_to_gguf.py`` writes it for gpt-oss,
* an o200k_harmony-like byte-level BPE vocabulary (``tokenizer.ggml.pre = "gpt-4o"``) with every
  harmony special token, at the same relative positions as in the real vocabulary,
* the harmony chat template under ``tokenizer.chat_template``.

Weights are random (seeded), so the text is gibberish, but the file is deterministic: the same
arguments always produce the same bytes.  Output-head rows of all control tokens are zero, so the
logit of every control token is exactly 0 while the best ordinary token is (almost surely)
positive: greedy decoding never stops early.  Tests that need an end-of-generation token force it,
e.g. with ``logit_bias``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from .model_cache import cached_file, default_cache_dir

__all__ = [
    "CHAT_TEMPLATE",
    "EOG_TOKENS",
    "GENERATOR_VERSION",
    "MERGE_WORDS",
    "SPECIAL_TOKENS",
    "TinyGptOssConfig",
    "build_tiny_gptoss",
    "cached_tiny_gptoss",
    "default_cache_dir",
]

#: Bump when the generated file changes in a way the source hash would not catch.
GENERATOR_VERSION = 1

ARCH = "gpt-oss"
MODEL_NAME = "Tiny gpt-oss (test)"


@dataclass(frozen=True)
class TinyGptOssConfig:
    """Model dimensions. gpt-oss-20b values are in the comments, for comparison."""

    n_layer: int = 4  # 24
    n_embd: int = 64  # 2880
    n_head: int = 2  # 64
    n_head_kv: int = 1  # 8
    head_dim: int = 64  # 64 (so n_head * head_dim != n_embd, as in the real model)
    n_expert: int = 4  # 32
    n_expert_used: int = 2  # 4
    n_ff_exp: int = 64  # 2880 (must be a multiple of 32 for MXFP4)
    rope_freq_base: float = 150000.0  # 150000
    rope_yarn_factor: float = 32.0  # 32
    rms_norm_eps: float = 1e-5  # 1e-5


CONFIG = TinyGptOssConfig()

# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

#: Pre-tokenizer units that get their own BPE merge chains, so common text becomes multi-byte
#: tokens (a leading space is part of the word under the gpt-4o pre-tokenizer regex).
MERGE_WORDS: tuple[str, ...] = (
    "Hello",
    " hello",
    " world",
    "The",
    " the",
    " and",
    " to",
    " of",
    " is",
    " a",
    " in",
    " it",
    " you",
    " that",
    " for",
    " with",
    " fire",
    "side",
    "user",
    "assistant",
    "system",
    "developer",
    "analysis",
    "final",
    "commentary",
    "\n\n",
)

# The o200k_harmony special-token block starts at id 199998.  The tiny vocabulary keeps the same
# block (named tokens and reserved fillers in the same order) right after the ordinary tokens.
_HARMONY_BASE_ID = 199998
_HARMONY_BLOCK: tuple[str, ...] = (
    "<|startoftext|>",  # 199998, bos
    "<|endoftext|>",  # 199999, pad
    "<|reserved_200000|>",
    "<|reserved_200001|>",
    "<|return|>",  # 200002, eos
    "<|constrain|>",  # 200003
    "<|reserved_200004|>",
    "<|channel|>",  # 200005
    "<|start|>",  # 200006
    "<|end|>",  # 200007
    "<|message|>",  # 200008
    "<|reserved_200009|>",
    "<|reserved_200010|>",
    "<|reserved_200011|>",
    "<|call|>",  # 200012
    "<|reserved_200013|>",
    "<|reserved_200014|>",
    "<|reserved_200015|>",
    "<|reserved_200016|>",
    "<|reserved_200017|>",
    "<|endofprompt|>",  # 200018
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode mapping used by byte-level BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + n)
            n += 1
    return mapping


_BYTE_ENCODER = _bytes_to_unicode()


def _encode_bytes(text: str) -> str:
    return "".join(_BYTE_ENCODER[b] for b in text.encode("utf-8"))


def _build_vocab() -> tuple[list[str], list[int], list[str], dict[str, int]]:
    """Return (tokens, token types, merges, special token ids)."""
    tokens = [_BYTE_ENCODER[b] for b in range(256)]
    seen = set(tokens)
    merges: list[str] = []
    for word in MERGE_WORDS:
        chars = _encode_bytes(word)
        prefix = chars[0]
        # Left-to-right merge chain: "Ġ w", "Ġw o", "Ġwo r", ... -> "Ġworld".
        for ch in chars[1:]:
            merged = prefix + ch
            if merged not in seen:
                merges.append(f"{prefix} {ch}")
                tokens.append(merged)
                seen.add(merged)
            prefix = merged
    toktypes = [int(gguf.TokenType.NORMAL)] * len(tokens)

    base = len(tokens)
    specials: dict[str, int] = {}
    for offset, text in enumerate(_HARMONY_BLOCK):
        tokens.append(text)
        toktypes.append(int(gguf.TokenType.CONTROL))
        if not text.startswith("<|reserved_"):
            specials[text] = base + offset
    return tokens, toktypes, merges, specials


_TOKENS, _TOKEN_TYPES, _MERGES, _SPECIALS = _build_vocab()

#: Harmony special token text -> id in the tiny vocabulary.
SPECIAL_TOKENS: dict[str, int] = dict(_SPECIALS)

#: Ids of the same tokens in the real o200k_harmony vocabulary, for reference.
REAL_SPECIAL_TOKEN_IDS: dict[str, int] = {
    text: _HARMONY_BASE_ID + i for i, text in enumerate(_HARMONY_BLOCK) if not text.startswith("<|reserved_")
}

#: Tokens llama.cpp treats as end-of-generation for this vocabulary.  llama-vocab.cpp first marks
#: <|endoftext|>, <|return|>, <|call|> and <|end|> as EOG by their text, then drops <|end|> again
#: (and re-types it USER_DEFINED) because <|return|> and <|call|> are both present.
EOG_TOKENS: frozenset[str] = frozenset({"<|endoftext|>", "<|return|>", "<|call|>"})

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|return|>"
PAD_TOKEN = "<|endoftext|>"

# --------------------------------------------------------------------------------------------
# Chat template
# --------------------------------------------------------------------------------------------

#: Condensed but faithful copy of the gpt-oss harmony chat template (openai/gpt-oss-20b).  Only
#: the built-in browser/python tool docs are dropped, and function schemas are rendered as JSON
#: instead of TypeScript.  Like the original it needs ``strftime_now`` and ``raise_exception``.
CHAT_TEMPLATE = """\
{#- Condensed gpt-oss (harmony) chat template for tests. -#}
{%- macro render_tool_namespace(namespace_name, tools) -%}
    {{- "## " + namespace_name + "\\n\\n" }}
    {{- "namespace " + namespace_name + " {\\n\\n" }}
    {%- for tool in tools %}
        {%- if tool.function is defined %}
            {%- set tool = tool.function %}
        {%- endif %}
        {{- "// " + (tool.description or "") + "\\n" }}
        {{- "type " + tool.name + " = " }}
        {%- if tool.parameters and tool.parameters.properties %}
            {{- "(_: " + tool.parameters | tojson + ") => any;\\n\\n" }}
        {%- else %}
            {{- "() => any;\\n\\n" }}
        {%- endif %}
    {%- endfor %}
    {{- "} // namespace " + namespace_name }}
{%- endmacro -%}

{%- macro build_system_message() -%}
    {%- if model_identity is not defined %}
        {%- set model_identity = "You are ChatGPT, a large language model trained by OpenAI." %}
    {%- endif %}
    {{- model_identity + "\\n" }}
    {{- "Knowledge cutoff: 2024-06\\n" }}
    {{- "Current date: " + strftime_now("%Y-%m-%d") + "\\n\\n" }}
    {%- if reasoning_effort is not defined %}
        {%- set reasoning_effort = "medium" %}
    {%- endif %}
    {{- "Reasoning: " + reasoning_effort + "\\n\\n" }}
    {{- "# Valid channels: analysis, commentary, final. Channel must be included for every message." }}
    {%- if tools -%}
        {{- "\\nCalls to these tools must go to the commentary channel: 'functions'." }}
    {%- endif -%}
{%- endmacro -%}

{{- "<|start|>system<|message|>" }}
{{- build_system_message() }}
{{- "<|end|>" }}

{%- if messages[0].role == "developer" or messages[0].role == "system" %}
    {%- set developer_message = messages[0].content %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set developer_message = "" %}
    {%- set loop_messages = messages %}
{%- endif %}

{%- if developer_message or tools %}
    {{- "<|start|>developer<|message|>" }}
    {%- if developer_message %}
        {{- "# Instructions\\n\\n" }}
        {{- developer_message }}
        {{- "\\n\\n" }}
    {%- endif %}
    {%- if tools -%}
        {{- "# Tools\\n\\n" }}
        {{- render_tool_namespace("functions", tools) }}
    {%- endif -%}
    {{- "<|end|>" }}
{%- endif %}

{%- set last_tool_call = namespace(name=none) %}
{%- for message in loop_messages -%}
    {%- if message.role == 'assistant' -%}
        {%- if "content" in message and message.content %}
            {%- if "<|channel|>analysis<|message|>" in message.content or "<|channel|>final<|message|>" in message.content %}
                {{- raise_exception("You have passed a message containing <|channel|> tags in the content field.") }}
            {%- endif %}
        {%- endif %}
        {%- if "tool_calls" in message and message.tool_calls %}
            {%- set future_final_message = namespace(found=false) %}
            {%- for future_message in loop_messages[loop.index:] %}
                {%- if future_message.role == 'assistant' and "tool_calls" not in future_message %}
                    {%- set future_final_message.found = true %}
                {%- endif %}
            {%- endfor %}
            {%- set tool_call = message.tool_calls[0] %}
            {%- if tool_call.function %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {%- if message.content and message.thinking %}
                {{- raise_exception("Cannot pass both content and thinking in an assistant message with tool calls!") }}
            {%- elif message.content and not future_final_message.found %}
                {{- "<|start|>assistant<|channel|>analysis<|message|>" + message.content + "<|end|>" }}
            {%- elif message.thinking and not future_final_message.found %}
                {{- "<|start|>assistant<|channel|>analysis<|message|>" + message.thinking + "<|end|>" }}
            {%- endif %}
            {{- "<|start|>assistant to=" }}
            {{- "functions." + tool_call.name + "<|channel|>commentary " }}
            {{- (tool_call.content_type if tool_call.content_type is defined else "json") + "<|message|>" }}
            {{- tool_call.arguments|tojson }}
            {{- "<|call|>" }}
            {%- set last_tool_call.name = tool_call.name %}
        {%- elif loop.last and not add_generation_prompt %}
            {%- if "thinking" in message %}
                {{- "<|start|>assistant<|channel|>analysis<|message|>" + message.thinking + "<|end|>" }}
            {%- endif %}
            {{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|return|>" }}
        {%- else %}
            {{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|end|>" }}
            {%- set last_tool_call.name = none %}
        {%- endif %}
    {%- elif message.role == 'tool' -%}
        {%- if last_tool_call.name is none %}
            {{- raise_exception("Message has tool role, but there was no previous assistant message with a tool call!") }}
        {%- endif %}
        {{- "<|start|>functions." + last_tool_call.name }}
        {{- " to=assistant<|channel|>commentary<|message|>" + message.content|tojson + "<|end|>" }}
    {%- elif message.role == 'user' -%}
        {{- "<|start|>user<|message|>" + message.content + "<|end|>" }}
    {%- endif -%}
{%- endfor -%}

{%- if add_generation_prompt -%}
<|start|>assistant
{%- endif -%}
"""  # noqa: E501 - template lines kept as in the original

# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

_QK_MXFP4 = 32  # elements per block_mxfp4 (ggml/src/ggml-common.h)
_MXFP4_BLOCK_BYTES = 1 + _QK_MXFP4 // 2  # uint8 E8M0 exponent + 16 bytes of packed E2M1 nibbles


def _mxfp4_bytes(rng: np.random.Generator, n_expert: int, rows: int, cols: int) -> np.ndarray:
    """Random MXFP4 expert weights as raw ggml blocks, shape (n_expert, rows, cols // 32 * 17).

    Block layout (block_mxfp4): byte 0 is the shared E8M0 exponent ``e``; bytes 1..16 hold 32
    4-bit E2M1 codes, element j in the low nibble of byte j and element j + 16 in the high nibble.
    ggml decodes element values as ``kvalues_mxfp4[code] * 2**(e - 128)`` with kvalues
    (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, ..., -12); e in 120..122 keeps |w| below ~0.1.
    """
    if cols % _QK_MXFP4:
        raise ValueError(f"MXFP4 rows need a multiple of {_QK_MXFP4} columns, got {cols}")
    n_blocks = cols // _QK_MXFP4
    exponents = rng.integers(120, 123, size=(n_expert, rows, n_blocks, 1), dtype=np.uint8)
    nibbles = rng.integers(0, 16, size=(n_expert, rows, n_blocks, 2, _QK_MXFP4 // 2), dtype=np.uint8)
    packed = nibbles[..., 0, :] | (nibbles[..., 1, :] << np.uint8(4))
    blocks = np.concatenate([exponents, packed], axis=-1)
    return np.ascontiguousarray(blocks.reshape(n_expert, rows, n_blocks * _MXFP4_BLOCK_BYTES))


def _f16(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float16)


def _f32(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


def _norm_weight(rng: np.random.Generator, n: int) -> np.ndarray:
    return (1.0 + rng.standard_normal(n) * 0.05).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------


def add_gptoss_metadata(writer: gguf.GGUFWriter, cfg: Any, *, name: str, size_label: str,
                        n_ctx_train: int, sliding_window: int, tokens: Sequence[str],
                        token_types: Sequence[int], merges: Sequence[str],
                        specials: Mapping[str, int]) -> None:
    """Every key a gpt-oss GGUF carries, for any `cfg` with gpt-oss's hyper-parameter names
    (this tiny model, and the 20b shape of tests/benchmarks/shape20b.py)."""
    # general.* (what convert_hf_to_gguf.py writes for a model without a model card)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_size_label(size_label)
    writer.add_license("apache-2.0")

    # Hyper-parameters: exactly the keys llama.cpp reads for LLM_ARCH_OPENAI_MOE plus the
    # optional ones the converter writes for gpt-oss.
    writer.add_block_count(cfg.n_layer)
    writer.add_context_length(n_ctx_train)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_feed_forward_length(cfg.n_ff_exp)
    writer.add_head_count(cfg.n_head)
    writer.add_head_count_kv(cfg.n_head_kv)
    writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(cfg.rope_yarn_factor)
    # gpt-oss: 131072 trained context = 32 x 4096 original context; keep that ratio.
    writer.add_rope_scaling_orig_ctx_len(max(1, int(n_ctx_train // cfg.rope_yarn_factor)))
    writer.add_rope_scaling_yarn_beta_fast(32.0)
    writer.add_rope_scaling_yarn_beta_slow(1.0)
    writer.add_rope_freq_base(cfg.rope_freq_base)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_expert_count(cfg.n_expert)
    writer.add_expert_used_count(cfg.n_expert_used)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_MXFP4_MOE)
    writer.add_sliding_window(sliding_window)
    writer.add_expert_feed_forward_length(cfg.n_ff_exp)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # Tokenizer (what _set_vocab_gpt2 + SpecialVocab write for openai/gpt-oss-20b).
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-4o")
    writer.add_token_list(list(tokens))
    writer.add_token_types(list(token_types))
    writer.add_token_merges(list(merges))
    writer.add_bos_token_id(specials[BOS_TOKEN])
    writer.add_eos_token_id(specials[EOS_TOKEN])
    writer.add_pad_token_id(specials[PAD_TOKEN])
    writer.add_chat_template(CHAT_TEMPLATE)


def build_tiny_gptoss(path: Path, *, sliding_window: int = 4, n_ctx_train: int = 4096, seed: int = 0) -> Path:
    """Write the tiny gpt-oss GGUF to ``path`` and return it.

    Tensor shapes and types follow ``llama_model_openai_moe::load_arch_tensors`` and the dtype
    rules of ``convert_hf_to_gguf.py`` (norms/biases/sinks and the router in F32, other matrices
    in F16, experts in MXFP4, so ``general.file_type`` is MOSTLY_MXFP4_MOE).
    """
    if sliding_window < 1:
        raise ValueError("sliding_window must be >= 1")
    if n_ctx_train < 32:
        raise ValueError("n_ctx_train must be >= 32")
    cfg = CONFIG
    path = Path(path)
    rng = np.random.default_rng(seed)
    n_vocab = len(_TOKENS)
    q_dim = cfg.n_head * cfg.head_dim
    kv_dim = cfg.n_head_kv * cfg.head_dim

    writer = gguf.GGUFWriter(path, ARCH)

    add_gptoss_metadata(writer, cfg, name=MODEL_NAME, size_label="tiny", n_ctx_train=n_ctx_train,
                        sliding_window=sliding_window, tokens=_TOKENS, token_types=_TOKEN_TYPES,
                        merges=_MERGES, specials=SPECIAL_TOKENS)

    # Tensors, in the converter's order.
    writer.add_tensor("token_embd.weight", _f16(rng, (n_vocab, cfg.n_embd), 1.0))
    for il in range(cfg.n_layer):
        blk = f"blk.{il}"
        writer.add_tensor(f"{blk}.attn_norm.weight", _norm_weight(rng, cfg.n_embd))
        writer.add_tensor(f"{blk}.attn_q.weight", _f16(rng, (q_dim, cfg.n_embd), 0.05))
        writer.add_tensor(f"{blk}.attn_q.bias", _f32(rng, (q_dim,), 0.02))
        writer.add_tensor(f"{blk}.attn_k.weight", _f16(rng, (kv_dim, cfg.n_embd), 0.05))
        writer.add_tensor(f"{blk}.attn_k.bias", _f32(rng, (kv_dim,), 0.02))
        writer.add_tensor(f"{blk}.attn_v.weight", _f16(rng, (kv_dim, cfg.n_embd), 0.05))
        writer.add_tensor(f"{blk}.attn_v.bias", _f32(rng, (kv_dim,), 0.02))
        writer.add_tensor(f"{blk}.attn_output.weight", _f16(rng, (cfg.n_embd, q_dim), 0.05))
        writer.add_tensor(f"{blk}.attn_output.bias", _f32(rng, (cfg.n_embd,), 0.02))
        sinks = rng.uniform(-1.0, 1.0, size=cfg.n_head).astype(np.float32)
        writer.add_tensor(f"{blk}.attn_sinks.weight", sinks)
        writer.add_tensor(f"{blk}.post_attention_norm.weight", _norm_weight(rng, cfg.n_embd))
        writer.add_tensor(f"{blk}.ffn_gate_inp.weight", _f32(rng, (cfg.n_expert, cfg.n_embd), 0.1))
        writer.add_tensor(f"{blk}.ffn_gate_inp.bias", _f32(rng, (cfg.n_expert,), 0.02))
        mxfp4 = gguf.GGMLQuantizationType.MXFP4
        for kind, rows, cols in (
            ("gate", cfg.n_ff_exp, cfg.n_embd),
            ("up", cfg.n_ff_exp, cfg.n_embd),
            ("down", cfg.n_embd, cfg.n_ff_exp),
        ):
            raw = _mxfp4_bytes(rng, cfg.n_expert, rows, cols)
            writer.add_tensor(f"{blk}.ffn_{kind}_exps.weight", raw, raw_dtype=mxfp4)
            writer.add_tensor(f"{blk}.ffn_{kind}_exps.bias", _f32(rng, (cfg.n_expert, rows), 0.02))
    writer.add_tensor("output_norm.weight", _norm_weight(rng, cfg.n_embd))
    output = (rng.standard_normal((n_vocab, cfg.n_embd)) * 0.1).astype(np.float16)
    output[np.asarray(_TOKEN_TYPES) == int(gguf.TokenType.CONTROL)] = 0  # see module docstring
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def _cache_key(sliding_window: int, n_ctx_train: int, seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())  # any edit to the generator invalidates the cache
    digest.update(f"{GENERATOR_VERSION}|{sliding_window}|{n_ctx_train}|{seed}".encode())
    digest.update(importlib.metadata.version("gguf").encode())  # writer changes alter bytes
    return digest.hexdigest()[:16]


def cached_tiny_gptoss(
    cache_dir: Path | None = None,
    *,
    sliding_window: int = 4,
    n_ctx_train: int = 4096,
    seed: int = 0,
) -> Path:
    """Build the tiny model once per (generator, parameters) and reuse it across test runs.

    The file is written to a temporary name in the cache directory and renamed into place, so
    concurrent test workers never see a half-written model.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _cache_key(sliding_window, n_ctx_train, seed)
    target = directory / f"tiny-gpt-oss-swa{sliding_window}-ctx{n_ctx_train}-s{seed}-{key}.gguf"
    return cached_file(target, lambda tmp: build_tiny_gptoss(
        tmp, sliding_window=sliding_window, n_ctx_train=n_ctx_train, seed=seed))
    fd, tmp_name = tempfile.mkstemp(prefix=".tiny-gpt-oss-", suffix=".part", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        build_tiny_gptoss(tmp, sliding_window=sliding_window, n_ctx_train=n_ctx_train, seed=seed)
        tmp.chmod(0o644)  # mkstemp creates 0600 files; the cache may be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
