"""Adapter files checked in pure Python: what llama.cpp would refuse, or trip on, never reaches it."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from fireside.core.models.adapters import (
    AdapterError,
    check_adapter,
    find_adapter,
    import_adapter,
    list_adapters,
    read_adapter,
    remove_adapter,
    resolve_uses,
    split_spec,
)
from fireside.core.models.gguf_info import read_gguf
from tests.helpers.lora import Pair, lora_for, random_pairs, write_lora


def _pairs(rank: int, n_in: int, n_out: int, *extra: int) -> Pair:
    return Pair(np.zeros((*extra, rank, n_in), np.float32), np.zeros((*extra, n_out, rank), np.float32))


def test_a_generated_adapter_is_described(tiny_gptoss_path: Path, tmp_path: Path):
    path = lora_for(tiny_gptoss_path, tmp_path / "legal.gguf", rank=8, alpha=16.0)
    info = check_adapter(path, read_gguf(tiny_gptoss_path))
    assert (info.architecture, info.rank, info.alpha) == ("gpt-oss", 8, 16.0)
    assert info.targets == ("attn_k", "attn_output", "attn_q", "attn_v")
    assert len(info.pairs) == 4 * read_gguf(tiny_gptoss_path).arch_key("block_count")
    assert not info.adapts_experts
    assert "rank 8" in info.summary() and "attn_q" in info.summary()


def test_shapes_follow_llama_cpp(tiny_gptoss_path: Path, tmp_path: Path):
    """lora_a [n_in, rank] and lora_b [rank, n_out] in GGUF's ne order, for a base [n_in, n_out]."""
    base = read_gguf(tiny_gptoss_path)
    q = next(t for t in base.tensors if t.name == "blk.0.attn_q.weight")
    n_in, n_out = q.shape
    assert n_in != n_out  # so a transposed pair cannot pass by accident
    ok = write_lora(tmp_path / "ok.gguf", "gpt-oss", {q.name: _pairs(4, n_in, n_out)})
    assert read_gguf(ok).tensors[0].shape == (n_in, 4)  # what llama.cpp reads as ne
    check_adapter(ok, base)
    swapped = write_lora(tmp_path / "swapped.gguf", "gpt-oss", {q.name: _pairs(4, n_out, n_in)})
    with pytest.raises(AdapterError, match="wrong shape"):
        check_adapter(swapped, base)
    ranks = write_lora(tmp_path / "ranks.gguf", "gpt-oss",
                       {q.name: Pair(np.zeros((4, n_in), np.float32), np.zeros((n_out, 8), np.float32))})
    with pytest.raises(AdapterError, match="disagree on the rank"):
        read_adapter(ranks)


def test_expert_and_embedding_tensors(tiny_gptoss_path: Path, tmp_path: Path):
    base = read_gguf(tiny_gptoss_path)
    exps = next(t for t in base.tensors if t.name == "blk.0.ffn_up_exps.weight")
    n_in, n_out, n_expert = exps.shape
    ok = write_lora(tmp_path / "exps.gguf", "gpt-oss", {exps.name: _pairs(4, n_in, n_out, n_expert)})
    assert check_adapter(ok, base).adapts_experts
    fewer = write_lora(tmp_path / "fewer.gguf", "gpt-oss",
                       {exps.name: _pairs(4, n_in, n_out, n_expert - 1)})
    with pytest.raises(AdapterError, match="wrong shape"):  # llama.cpp itself does not check this
        check_adapter(fewer, base)
    embd = next(t for t in base.tensors if t.name == "token_embd.weight")
    n_embd, n_vocab = embd.shape
    # token_embd: A and B swapped (llama.cpp's llm_build_inp_embd): A ne [rank, n_vocab], B [rank, n_embd]
    swapped = Pair(np.zeros((n_vocab, 4), np.float32), np.zeros((n_embd, 4), np.float32))
    check_adapter(write_lora(tmp_path / "embd.gguf", "gpt-oss", {embd.name: swapped}), base)


def test_other_architecture_and_missing_tensors_are_refused(tiny_gptoss_path: Path, gemma_path: Path,
                                                            tmp_path: Path):
    gemma_lora = lora_for(gemma_path, tmp_path / "g.gguf", rank=4)
    with pytest.raises(AdapterError, match="made for gemma3 models"):
        check_adapter(gemma_lora, read_gguf(tiny_gptoss_path))
    # the right architecture name on tensors the model does not have (a deeper model's layers)
    deep = write_lora(tmp_path / "deep.gguf", "gpt-oss", {"blk.99.attn_q.weight": _pairs(4, 64, 128)})
    with pytest.raises(AdapterError, match="does not have"):
        check_adapter(deep, read_gguf(tiny_gptoss_path))


def _writer(path: Path, **kv: object) -> gguf.GGUFWriter:
    w = gguf.GGUFWriter(str(path), "gpt-oss")
    for key, value in kv.items():
        if isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_float64(key, float(value))
    return w


def _finish(w: gguf.GGUFWriter, tensors: dict[str, np.ndarray]) -> None:
    for name, data in tensors.items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


A, B = np.zeros((4, 64), np.float32), np.zeros((128, 4), np.float32)
PAIR = {"blk.0.attn_q.weight.lora_a": A, "blk.0.attn_q.weight.lora_b": B}


@pytest.mark.parametrize(("kv", "tensors", "message"), [
    ({}, PAIR, "is a model, not an adapter"),
    ({"general.type": "adapter", "adapter.type": "control_vector"}, PAIR, "LoRA adapters only"),
    ({"general.type": "mmproj"}, PAIR, "not a LoRA adapter"),
    ({"general.type": "adapter", "adapter.type": "lora", "adapter.lora.alpha": 16.0}, PAIR,
     "alpha is not a 32-bit number"),  # llama.cpp's gguf_get_val_f32 would assert on a float64
    ({"general.type": "adapter", "adapter.type": "lora"},
     {"blk.0.attn_q.weight.lora_a": A}, "only one of its two LoRA halves"),
    ({"general.type": "adapter", "adapter.type": "lora"},
     {**PAIR, "blk.0.attn_q.weight": A}, "not part of a LoRA"),
])
def test_malformed_adapters_are_refused(tmp_path: Path, kv: dict[str, object],
                                        tensors: dict[str, np.ndarray], message: str):
    path = tmp_path / "bad.gguf"
    _finish(_writer(path, **kv), tensors)
    with pytest.raises(AdapterError, match=message) as err:
        read_adapter(path)
    assert "\n" not in str(err.value)


def test_activated_loras_are_refused(tmp_path: Path):
    path = tmp_path / "alora.gguf"
    w = _writer(path, **{"general.type": "adapter", "adapter.type": "lora"})
    w.add_float32("adapter.lora.alpha", 8.0)
    w.add_array("adapter.alora.invocation_tokens", [1, 2, 3])
    _finish(w, PAIR)
    with pytest.raises(AdapterError, match="aLoRA"):
        read_adapter(path)


def test_norm_vectors_are_allowed_and_ignored(tmp_path: Path):
    """llama.cpp skips `*_norm.weight` in adapters; so do we."""
    path = tmp_path / "norm.gguf"
    w = _writer(path, **{"general.type": "adapter", "adapter.type": "lora"})
    w.add_float32("adapter.lora.alpha", 8.0)
    _finish(w, {**PAIR, "blk.0.attn_norm.weight": np.ones(64, np.float32)})
    assert list(read_adapter(path).pairs) == ["blk.0.attn_q.weight"]


def test_a_truncated_adapter_is_refused(tiny_gptoss_path: Path, tmp_path: Path):
    data = lora_for(tiny_gptoss_path, tmp_path / "a.gguf").read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        with pytest.raises(AdapterError, match=r"truncated|incomplete|not a GGUF"):
            read_adapter(p)


@pytest.mark.parametrize(("spec", "expected"), [
    ("legal.gguf", ("legal.gguf", 1.0)),
    ("legal:0.5", ("legal", 0.5)),
    ("/data/x/legal.gguf:-0.25", ("/data/x/legal.gguf", -0.25)),
    ("C:\\adapters\\legal.gguf", ("C:\\adapters\\legal.gguf", 1.0)),
    ("C:\\adapters\\legal.gguf:2", ("C:\\adapters\\legal.gguf", 2.0)),
])
def test_adapter_specs(spec: str, expected: tuple[str, float]):
    assert split_spec(spec) == expected


@pytest.mark.parametrize("spec", ["legal:lots", "legal:nan", "legal:1000"])
def test_bad_scales_are_refused(spec: str):
    with pytest.raises(AdapterError, match="scale"):
        split_spec(spec)


def test_import_list_find_remove(tiny_gptoss_path: Path, tmp_path: Path):
    folder = tmp_path / "adapters"
    (tmp_path / "src").mkdir()
    source = lora_for(tiny_gptoss_path, tmp_path / "src" / "legal.gguf")
    dest, info = import_adapter(folder, source, copy=False)
    assert dest.is_symlink() and info.rank == 8
    with pytest.raises(AdapterError, match="already installed"):
        import_adapter(folder, source, copy=True)
    (folder / "broken.gguf").write_bytes(b"GGUF")
    listed = dict(list_adapters(folder))
    assert getattr(listed[dest], "rank", None) == 8
    assert isinstance(listed[folder / "broken.gguf"], AdapterError)
    assert find_adapter(folder, "legal") == dest == find_adapter(folder, "legal.gguf")
    uses = resolve_uses(["legal:0.5"], folder)
    assert uses[0].scale == 0.5 and uses[0].label == "legal:0.5"
    with pytest.raises(AdapterError, match="given twice"):
        resolve_uses(["legal:0.5", str(source)], folder)
    with pytest.raises(AdapterError, match="No adapter"):
        find_adapter(folder, "../src/legal")
    remove_adapter(folder, "legal")
    assert source.is_file() and not dest.exists()
    with pytest.raises(AdapterError, match="No installed adapter"):
        remove_adapter(folder, "legal")


def test_model_files_are_not_adapters(tiny_gptoss_path: Path):
    with pytest.raises(AdapterError, match="is a model, not an adapter"):
        read_adapter(tiny_gptoss_path)
    assert random_pairs(tiny_gptoss_path, rank=4)  # the helper finds the attention weights
