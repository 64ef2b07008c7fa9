"""The tiny gpt-oss GGUF really is gpt-oss to llama.cpp, so engine tests built on it are honest.

Everything here runs the real llama_cpp bindings; nothing is mocked.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import pytest
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from fireside.core.chat.conversation import ChatRequest, Message
from fireside.core.chat.prompting import prompt_format, render
from fireside.core.engine.devices import load_backends
from fireside.core.models.gguf_info import read_gguf
from tests.helpers.gemma import cached_gemma
from tests.helpers.tiny_gptoss import (
    CONFIG,
    EOG_TOKENS,
    SPECIAL_TOKENS,
    build_tiny_gptoss,
    cached_tiny_gptoss,
)

N_CTX = 256
WINDOW = 4


def _load(path: Path, **kwargs: object) -> llama_cpp.Llama:
    load_backends()  # llama-cpp-python does not load a GGML_BACKEND_DL build's modules itself
    params: dict[str, object] = {"n_ctx": N_CTX, "verbose": False, "seed": 0}
    params.update(kwargs)
    return llama_cpp.Llama(str(path), **params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model_path() -> Path:
    return cached_tiny_gptoss(sliding_window=WINDOW)


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[llama_cpp.Llama]:
    model = _load(model_path)
    yield model
    model.close()


def _greedy(llm: llama_cpp.Llama, prompt: list[int], n: int) -> list[int]:
    llm.reset()
    out: list[int] = []
    for token in llm.generate(prompt, temp=0.0, reset=True):
        out.append(token)
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------------- the file


def test_build_is_deterministic_small_and_seeded(tmp_path: Path) -> None:
    a = build_tiny_gptoss(tmp_path / "a.gguf", seed=0)
    b = build_tiny_gptoss(tmp_path / "b.gguf", seed=0)
    c = build_tiny_gptoss(tmp_path / "c.gguf", seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert a.stat().st_size < 512 * 1024


def test_cache_builds_once_per_parameters(tmp_path: Path) -> None:
    first = cached_tiny_gptoss(tmp_path)
    stamp = first.stat().st_mtime_ns
    again = cached_tiny_gptoss(tmp_path)
    other = cached_tiny_gptoss(tmp_path, sliding_window=8)
    assert again == first
    assert again.stat().st_mtime_ns == stamp
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def test_gguf_structure_is_gpt_oss(model_path: Path) -> None:
    reader = gguf.GGUFReader(model_path)

    def field(key: str) -> object:
        value = reader.get_field(key)
        assert value is not None, key
        return value.contents()

    assert field("general.architecture") == "gpt-oss"
    assert field("general.name") == "Tiny gpt-oss (test)"
    assert field("general.file_type") == gguf.LlamaFileType.MOSTLY_MXFP4_MOE
    assert field("gpt-oss.attention.sliding_window") == WINDOW
    assert field("gpt-oss.rope.scaling.type") == "yarn"
    assert field("tokenizer.ggml.model") == "gpt2"
    assert field("tokenizer.ggml.pre") == "gpt-4o"
    template = field("tokenizer.chat_template")
    assert isinstance(template, str)
    assert "<|start|>" in template and "<|channel|>" in template

    tensors = {t.name: t for t in reader.tensors}
    mxfp4 = gguf.GGMLQuantizationType.MXFP4
    for il in range(CONFIG.n_layer):
        for suffix in (
            "attn_q.bias",
            "attn_k.bias",
            "attn_v.bias",
            "attn_output.bias",
            "attn_sinks.weight",
            "post_attention_norm.weight",
            "ffn_gate_inp.weight",
            "ffn_gate_inp.bias",
        ):
            assert f"blk.{il}.{suffix}" in tensors
        assert list(tensors[f"blk.{il}.attn_sinks.weight"].shape) == [CONFIG.n_head]
        for kind in ("gate", "up", "down"):
            tensor = tensors[f"blk.{il}.ffn_{kind}_exps.weight"]
            assert tensor.tensor_type == mxfp4
            assert f"blk.{il}.ffn_{kind}_exps.bias" in tensors
            n_elements = int(np.prod(tensor.shape))
            assert n_elements == CONFIG.n_expert * CONFIG.n_embd * CONFIG.n_ff_exp
            assert tensor.n_bytes == n_elements // 32 * 17  # block_mxfp4: 1 + 16 bytes per 32
            weights = gguf.quants.dequantize(tensor.data, mxfp4)
            assert np.isfinite(weights).all()
            assert 0 < np.abs(weights).max() <= 12 * 2.0**-6
    assert {"output_norm.weight", "output.weight", "token_embd.weight"} <= tensors.keys()


# ------------------------------------------------------------------------- llama.cpp loading


@pytest.mark.parametrize("swa_full", [True, False])
def test_loads_as_gpt_oss_with_sliding_window(model_path: Path, swa_full: bool) -> None:
    model = _load(model_path, swa_full=swa_full)
    try:
        assert llama_cpp.llama_model_n_swa(model.model) == WINDOW
        assert model.metadata["general.architecture"] == "gpt-oss"
        assert model.n_ctx() == N_CTX
        assert model.n_embd() == CONFIG.n_embd
        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(model.model, buf, len(buf))
        assert buf.value.decode().startswith("gpt-oss")
        assert "MXFP4" in buf.value.decode()
        tokens = _greedy(model, model.tokenize(b"Hello world", add_bos=False), 8)
        assert len(tokens) == 8
    finally:
        model.close()


def test_sliding_window_parameter_reaches_llama_cpp(tmp_path: Path) -> None:
    model = _load(cached_tiny_gptoss(tmp_path, sliding_window=7))
    try:
        assert llama_cpp.llama_model_n_swa(model.model) == 7
    finally:
        model.close()


def test_sliding_window_hides_tokens_older_than_the_window(tmp_path: Path) -> None:
    """Same weights, window 4 vs 64: logits agree until position 4 cannot see position 0."""
    prompt = list(range(40, 52))
    logits = []
    for window in (WINDOW, 64):
        model = _load(cached_tiny_gptoss(tmp_path, sliding_window=window), logits_all=True)
        try:
            model.eval(prompt)
            logits.append(np.array(model.scores[: len(prompt)]))
        finally:
            model.close()
    narrow, wide = logits
    np.testing.assert_allclose(narrow[:WINDOW], wide[:WINDOW], atol=1e-4)
    assert np.abs(narrow[WINDOW] - wide[WINDOW]).max() > 1e-3


# --------------------------------------------------------------------------------- tokenizer


def test_every_harmony_token_is_one_token_both_ways(llm: llama_cpp.Llama) -> None:
    for text, token_id in SPECIAL_TOKENS.items():
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == [token_id], text
        assert llm.detokenize([token_id], special=True) == text.encode(), text


def test_bos_eos_and_end_of_generation_tokens(llm: llama_cpp.Llama) -> None:
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    assert llm.token_bos() == SPECIAL_TOKENS["<|startoftext|>"]
    assert llm.token_eos() == SPECIAL_TOKENS["<|return|>"]
    eog = {text for text, i in SPECIAL_TOKENS.items() if llama_cpp.llama_vocab_is_eog(vocab, i)}
    assert eog == EOG_TOKENS  # <|end|> is deliberately *not* EOG for gpt-oss
    # BOS is not added automatically (tokenizer.ggml.pre = gpt-4o defaults add_bos to false).
    assert llm.tokenize(b"Hello", add_bos=True)[0] != llm.token_bos()


def test_harmony_markers_are_user_defined_in_llama_cpp(llm: llama_cpp.Llama) -> None:
    """llama.cpp re-types channel/message/start/constrain/end as USER_DEFINED for gpt-oss:
    they are parsed and rendered even with special=False, unlike <|return|> and <|call|>."""
    for text in ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"):
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == [SPECIAL_TOKENS[text]]
        assert llm.detokenize([SPECIAL_TOKENS[text]], special=False) == text.encode()
    for text in ("<|return|>", "<|call|>", "<|startoftext|>", "<|endoftext|>"):
        assert len(llm.tokenize(text.encode(), add_bos=False, special=False)) > 1
        assert llm.detokenize([SPECIAL_TOKENS[text]], special=False) == b""


def test_merges_produce_multibyte_tokens(llm: llama_cpp.Llama) -> None:
    text = b"Hello world, the assistant and the user"
    tokens = llm.tokenize(text, add_bos=False)
    assert len(tokens) < len(text) // 2
    assert llm.tokenize(b"Hello world", add_bos=False) == [
        llm.tokenize(b"Hello", add_bos=False)[0],
        llm.tokenize(b" world", add_bos=False)[0],
    ]
    assert llm.detokenize(tokens) == text


def test_chat_template_renders_harmony_as_fireside_does_but_for_one_blank_line(
    llm: llama_cpp.Llama, model_path: Path
) -> None:
    """The GGUF's Jinja template (gpt-oss's release template, copied as it is) renders the same
    harmony prompt as Fireside, with one difference: it ends the developer message with a blank
    line, which openai/harmony's own rendering does not (tests/core/chat/test_harmony.py checks
    Fireside against harmony's test data). Fireside renders gpt-oss with harmony, never with this
    template, so the prompt the model sees is harmony's."""
    template = llm.metadata["tokenizer.chat_template"]
    formatter = Jinja2ChatFormatter(template, eos_token="<|return|>", bos_token="<|startoftext|>")
    chat = (Message("user", "Hi"), Message("assistant", "Hello"), Message("user", "And?"))
    templated = formatter(
        messages=[{"role": "system", "content": "Be brief."},
                  *({"role": m.role, "content": m.text} for m in chat)]
    ).prompt
    gguf_info = read_gguf(model_path)
    assert prompt_format(gguf_info) == "harmony"
    ours = render(gguf_info, ChatRequest(messages=chat, system_prompt="Be brief."))

    developer = "<|start|>developer<|message|># Instructions\n\nBe brief."
    assert developer + "<|end|>" in ours  # as harmony renders it
    assert developer + "\n\n<|end|>" in templated  # the template's extra blank line

    def same_day(text: str) -> str:
        return re.sub(r"Current date: \d{4}-\d{2}-\d{2}\n", "Current date: DAY\n", text)

    assert same_day(templated).replace("Be brief.\n\n<|end|>", "Be brief.<|end|>") == same_day(ours)
    assert ours.endswith("<|start|>user<|message|>And?<|end|><|start|>assistant")
    tokens = llm.tokenize(ours.encode(), add_bos=False, special=True)
    assert tokens.count(SPECIAL_TOKENS["<|start|>"]) == 6
    assert tokens.count(SPECIAL_TOKENS["<|end|>"]) == 5


# -------------------------------------------------------------------------------- generation


def test_greedy_generation_is_deterministic_with_finite_logits(model_path: Path) -> None:
    runs: list[list[int]] = []
    for swa_full in (True, True, False):
        model = _load(model_path, swa_full=swa_full, logits_all=True)
        try:
            prompt = model.tokenize(b"<|start|>user<|message|>Hello world<|end|>", special=True)
            tokens = _greedy(model, prompt, 40)
            scores = np.array(model.scores[: model.n_tokens])
        finally:
            model.close()
        assert len(tokens) == 40
        assert np.isfinite(scores).all()
        # Each greedy token is the argmax of the logits row before it (the logits are real).
        rows = scores[len(prompt) - 1 : len(prompt) - 1 + len(tokens)]
        assert [int(i) for i in rows.argmax(axis=1)] == tokens
        # Control tokens have zero output rows, so greedy decoding never ends early.
        assert not set(tokens) & set(SPECIAL_TOKENS.values())
        assert (rows[:, sorted(SPECIAL_TOKENS.values())] == 0).all()
        runs.append(tokens)
    assert runs[0] == runs[1] == runs[2]
    assert len(set(runs[0])) > 1


# ------------------------------------------------------------------------------------- gemma


@pytest.mark.slow
def test_gemma_loads_and_generates() -> None:
    model = _load(cached_gemma(), logits_all=True)
    try:
        assert model.metadata["general.architecture"] == "gemma3"
        prompt = model.tokenize(b"The capital of France is", add_bos=True)
        tokens = _greedy(model, prompt, 5)
        assert len(tokens) == 5
        assert np.isfinite(np.array(model.scores[: model.n_tokens])).all()
        assert model.detokenize(tokens).strip()
    finally:
        model.close()
