"""The child-process load check: llama.cpp's verdict on a file, without risking the app.

Files llama.cpp aborts on are built from the real tiny gpt-oss GGUF with one field changed. The
Python checks (gguf_checks.py) refuse them first; here the child is also asked directly, to prove
that what llama.cpp would abort on kills only the child, and is explained in one sentence.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import BadModelFile, LoadConfig
from fireside.core.models.gguf_info import GGUFError, read_gguf
from fireside.core.models.load_check import CACHE_FILE, check_loads
from tests.helpers.gguf_fuzz import FIRESIDE_CLI, Variant, layout, write_variant


def _with(src: Path, dst: Path, key: str, raw: bytes) -> Path:
    """A copy of src with the metadata value of `key` overwritten."""
    lay = layout(src)
    offset = next(o for o, _, k in lay.scalars if k == key)
    write_variant(src, dst, Variant("test", ((offset, raw),)))
    return dst


def _with_string(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    data = src.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1
    dst.write_bytes(data.replace(old, new))
    return dst


def test_a_good_file_is_checked_once_then_remembered(tiny_gptoss_path: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = check_loads(tiny_gptoss_path, cache)
    assert first.ok and not first.cached
    again = check_loads(tiny_gptoss_path, cache)
    assert again.ok and again.cached
    assert again.seconds < 0.05 < first.seconds  # a known file costs a stat and a small JSON read
    entries = json.loads((cache / CACHE_FILE).read_text())
    assert [v["ok"] for v in entries.values()] == [True]


def test_a_changed_file_is_checked_again(tiny_gptoss_path: Path, tmp_path: Path):
    copy = tmp_path / "m.gguf"
    copy.write_bytes(tiny_gptoss_path.read_bytes())
    assert not check_loads(copy, tmp_path).cached
    assert check_loads(copy, tmp_path).cached
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert not check_loads(copy, tmp_path).cached


@pytest.mark.parametrize(
    ("key", "raw", "python_says", "llama_says"),
    [
        (
            "gpt-oss.expert_used_count",
            struct.pack("<I", 5),
            "5 experts used per token but only 4 exist",
            "n_expert_used_max <= hparams.n_expert",
        ),
        ("gpt-oss.attention.value_length", struct.pack("<I", 6), "value length 6", "a->ne[0] == b->ne[0]"),
    ],
)
def test_what_llama_cpp_aborts_on_kills_only_the_child(
    tiny_gptoss_path: Path, tmp_path: Path, key: str, raw: bytes, python_says: str, llama_says: str
):
    bad = _with(tiny_gptoss_path, tmp_path / "bad.gguf", key, raw)
    with pytest.raises(GGUFError, match=python_says):
        read_gguf(bad)
    with pytest.raises(GGUFError) as refused:  # the child itself, as if Python had missed it
        check_loads(bad, tmp_path)
    message = str(refused.value)
    assert message.startswith("llama.cpp crashed while reading bad.gguf")
    assert llama_says in message and "\n" not in message
    with pytest.raises(GGUFError, match="crashed"):  # the verdict is remembered too
        check_loads(bad, tmp_path)


def test_a_file_llama_cpp_refuses_is_bad_input_everywhere(
    tiny_gptoss_path: Path, tmp_path: Path, fireside_home: Path
):
    # an unknown tokenizer: nothing in Python checks it, llama.cpp refuses it cleanly
    bad = _with_string(
        tiny_gptoss_path,
        tmp_path / "odd-tokenizer.gguf",
        b"tokenizer.ggml.model\x08\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00gpt2",
        b"tokenizer.ggml.model\x08\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00zzz9",
    )
    read_gguf(bad)
    with pytest.raises(GGUFError, match=r"llama.cpp cannot load odd-tokenizer.gguf \(.*zzz9"):
        check_loads(bad, tmp_path)

    # the CLI: exit 2, one line
    r = subprocess.run(
        [*FIRESIDE_CLI, "chat", "--model", str(bad), "--no-save", "Hi"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FIRESIDE_HOME": str(fireside_home)},
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "cannot load odd-tokenizer.gguf" in r.stderr

    # the engine: refused before the loaded model is touched; it keeps answering
    engine = LlamaEngine()
    engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=512, n_batch=64))
    with pytest.raises(BadModelFile, match=r"cannot load odd-tokenizer\.gguf"):
        engine.load(str(bad), LoadConfig(n_ctx=512, n_batch=64))
    assert engine.info is not None and engine.info.path == str(tiny_gptoss_path)
    request = ChatRequest(messages=(Message("user", "Hi"),), max_tokens=4, sampling=Sampling.greedy())
    assert isinstance(list(engine.stream(request))[-1], Done)
    engine.unload()


def test_the_childs_words_are_the_specific_ones(tiny_gptoss_path: Path, tmp_path: Path):
    """gguf.cpp's own reason, not the generic "failed to load model" lines that follow it."""
    lay = layout(tiny_gptoss_path)
    at, value = lay.tensor_offsets[-1]
    bad = tmp_path / "moved.gguf"
    write_variant(tiny_gptoss_path, bad, Variant("test", ((at, struct.pack("<Q", value + 32)),)))
    with pytest.raises(GGUFError, match="not where the file's index says"):
        read_gguf(bad)
    with pytest.raises(GGUFError) as refused:
        check_loads(bad, tmp_path)
    assert "cannot load moved.gguf (tensor 'output.weight' has offset" in str(refused.value)
