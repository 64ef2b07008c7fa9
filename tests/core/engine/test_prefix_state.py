"""Shared-prefix KV states (prefix_state.py) on real models: the tiny gpt-oss and Gemma 3 270M.

The opening of a chat (system message, developer message with ten tool definitions) is evaluated
once; later chats, and a new engine after a restart, restore it and must give exactly the greedy
tokens a fresh evaluation gives.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import replace
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from fireside.core.chat.conversation import AdapterUse, ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.prefix_state import (
    FOLDER,
    MAGIC,
    SUFFIX,
    PrefixStore,
    evaluate_prompt,
)
from fireside.core.engine.protocol import LoadConfig
from fireside.core.models.gguf_info import read_gguf
from tests.helpers.lora import lora_for
from tests.helpers.mcp_tools import TEN_TOOLS, tools_as_text

GREEDY = Sampling.greedy()
TINY_LOAD = LoadConfig(n_ctx=4096, n_batch=256)
TOOLS = TEN_TOOLS[:3]  # ~2,500 tokens on the tiny model's near-byte-level vocabulary


def _ask(text: str, *, tools=TOOLS, system: str = "Answer briefly.", adapters=(),
         max_tokens: int = 24) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), system_prompt=system, tools=tools,
                       adapters=adapters, max_tokens=max_tokens, sampling=GREEDY)


def _run(engine: LlamaEngine, request: ChatRequest) -> tuple[str, ReplyStats]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta | AnswerDelta)), done.stats


def _engine(path: Path, store: PrefixStore | None, load: LoadConfig = TINY_LOAD) -> LlamaEngine:
    engine = LlamaEngine(prefix_store=store)
    engine.load(str(path), load)
    return engine


def _uncached(path: Path, request: ChatRequest, load: LoadConfig = TINY_LOAD) -> str:
    """The reply from a new engine with no prefix store at all: the prompt evaluated in one go."""
    engine = _engine(path, None, load)
    text, stats = _run(engine, request)
    engine.unload()
    assert stats.reused_prompt_tokens == 0
    return text


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + SUFFIX))


def test_second_chat_and_a_restart_restore_the_opening_and_give_the_same_tokens(
        tiny_gptoss_path: Path, tmp_path: Path):
    store = PrefixStore(tmp_path)
    engine = _engine(tiny_gptoss_path, store)
    first = _ask("Where is the file with the settings?")
    _, stats1 = _run(engine, first)
    assert stats1.reused_prompt_tokens == 0 and store.stats.writes == 1
    assert len(_files(tmp_path)) == 1
    # Another conversation with the same system message and tools, after the first one ran on
    # past the sliding window (4 positions here): its opening comes back from memory.
    second = _ask("Show me the last three commits, please.")
    n_open = engine.count_prompt_tokens(replace(second, messages=()))
    text2, stats2 = _run(engine, second)
    assert store.stats.memory_hits == 1 and store.stats.writes == 1
    assert 1000 < stats2.reused_prompt_tokens <= n_open
    assert stats2.prompt_tokens - stats2.reused_prompt_tokens < 40
    assert text2 == _uncached(tiny_gptoss_path, second)
    engine.unload()
    # A restart: a new engine (empty memory) finds the file.
    restarted_store = PrefixStore(tmp_path)
    restarted = _engine(tiny_gptoss_path, restarted_store)
    text3, stats3 = _run(restarted, second)
    assert restarted_store.stats.disk_hits == 1 and restarted_store.stats.writes == 0
    assert stats3.reused_prompt_tokens == stats2.reused_prompt_tokens
    assert text3 == text2
    restarted.unload()


def test_other_tools_or_adapters_are_a_miss(tiny_gptoss_path: Path, tmp_path: Path):
    store = PrefixStore(tmp_path)
    engine = _engine(tiny_gptoss_path, store)
    adapter = str(lora_for(tiny_gptoss_path, tmp_path / "a.gguf", rank=4, std=0.5, seed=1))
    _run(engine, _ask("Hello"))
    assert store.stats.writes == 1
    variants = [
        _ask("Hello", tools=TEN_TOOLS[1:4]),  # other tools
        _ask("Hello", system="Answer in detail."),  # other instructions
        _ask("Hello", adapters=(AdapterUse(adapter, 1.0),)),  # an adapter
        _ask("Hello", adapters=(AdapterUse(adapter, 0.5),)),  # the same adapter, another scale
    ]
    for i, request in enumerate(variants):
        engine.unload()
        engine = _engine(tiny_gptoss_path, PrefixStore(tmp_path))
        _, stats = _run(engine, request)
        assert engine.prefix_store is not None
        assert engine.prefix_store.stats.misses == 1 and engine.prefix_store.stats.disk_hits == 0
        assert stats.reused_prompt_tokens == 0
        assert len(_files(tmp_path)) == i + 2  # each is stored under its own key
    # ...and each of them, asked again after a restart, is a hit on its own entry.
    engine.unload()
    engine = _engine(tiny_gptoss_path, PrefixStore(tmp_path))
    _, stats = _run(engine, variants[3])
    assert engine.prefix_store is not None and engine.prefix_store.stats.disk_hits == 1
    assert stats.reused_prompt_tokens > 1000
    engine.unload()


def _damage(kind: str, path: Path) -> None:
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "flipped byte":
        data[-1000] ^= 0x40
        path.write_bytes(bytes(data))
    elif kind == "appended":
        path.write_bytes(bytes(data) + b"\0" * 16)
    elif kind == "header":
        path.write_bytes(MAGIC + b"\xff\xff\x00\x00{not json" + bytes(data[len(MAGIC) + 40:]))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other key":  # a valid file of another prefix under this name
        other = next(p for p in path.parent.glob("*" + SUFFIX) if p != path)
        path.write_bytes(other.read_bytes())
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "flipped byte", "appended", "header", "empty",
                                  "other key"])
def test_a_damaged_file_is_a_miss_and_is_replaced(tiny_gptoss_path: Path, tmp_path: Path, kind: str):
    request = _ask("Read the notes file.")
    engine = _engine(tiny_gptoss_path, PrefixStore(tmp_path))
    expected, _ = _run(engine, request)
    _run(engine, _ask("x", tools=TEN_TOOLS[5:7]))  # a second entry ("other key")
    engine.unload()
    target = next(p for p in _files(tmp_path) if p.stat().st_mtime == min(
        q.stat().st_mtime for q in _files(tmp_path)))
    _damage(kind, target)
    store = PrefixStore(tmp_path)
    engine = _engine(tiny_gptoss_path, store)
    text, stats = _run(engine, request)
    assert stats.reused_prompt_tokens == 0 and text == expected
    assert store.stats.disk_hits == 0 and store.stats.misses == 1
    assert store.stats.dropped == 1
    assert store.stats.writes == 1 and target.exists()  # evaluated again and stored afresh
    assert PrefixStore(tmp_path).get(target.stem, []) is None  # (wrong tokens: a miss)
    engine.unload()


def test_the_folder_stays_under_its_bound(tiny_gptoss_path: Path, tmp_path: Path):
    probe = PrefixStore(tmp_path / "probe")
    engine = _engine(tiny_gptoss_path, probe)
    _run(engine, _ask("hi", tools=TEN_TOOLS[0:3]))
    one = probe.disk_usage()
    engine.unload()
    bound = int(one * 2.5)  # room for two entries
    store = PrefixStore(tmp_path / "bounded", disk_bytes=bound, memory_bytes=bound)
    engine = _engine(tiny_gptoss_path, store)
    (tmp_path / "bounded").mkdir()
    stale = tmp_path / "bounded" / ".crashed-writer.1.tmp"
    stale.write_bytes(b"\0" * 1000)
    os.utime(stale, (1, 1))  # an hour-old leftover of a crashed writer
    for i in range(4):
        _run(engine, _ask("hi", tools=TEN_TOOLS[i:i + 3]))
        assert store.disk_usage() <= bound
        assert store.memory_usage() <= bound
    assert store.stats.writes == 4 and len(_files(tmp_path / "bounded")) == 2
    assert not stale.exists()
    # The two newest survive: the third tool set is still a hit after a restart.
    engine.unload()
    store = PrefixStore(tmp_path / "bounded", disk_bytes=bound)
    engine = _engine(tiny_gptoss_path, store)
    _run(engine, _ask("hi", tools=TEN_TOOLS[2:5]))
    _run(engine, _ask("hi", tools=TEN_TOOLS[0:3]))
    assert store.stats.disk_hits == 1 and store.stats.misses == 1
    engine.unload()


def test_the_default_store_lives_in_the_cache_folder(tiny_gptoss_path: Path, fireside_home: Path):
    engine = _engine(tiny_gptoss_path, PrefixStore.default())
    _run(engine, _ask("hi"))
    assert len(_files(fireside_home / "cache" / FOLDER)) == 1
    engine.unload()


def test_an_engine_without_a_store_stores_nothing(tiny_gptoss_path: Path, fireside_home: Path):
    engine = LlamaEngine()
    engine.load(str(tiny_gptoss_path), TINY_LOAD)
    _run(engine, _ask("hi"))
    assert engine.prefix_store is None
    assert not (fireside_home / "cache" / FOLDER).exists()
    engine.unload()


def test_llama_cpp_refusing_a_state_is_a_miss(tiny_gptoss_path: Path, tmp_path: Path):
    """A state that llama.cpp cannot use (here: cut short, as if a bug had stored half of it) is
    dropped and the prefix evaluated, not fatal."""
    engine = _engine(tiny_gptoss_path, PrefixStore(None))
    assert engine.cache is not None and engine.prefix_store is not None
    request = _ask("hi")
    tokens = engine._prompt_tokens(request)
    n = engine.count_prompt_tokens(replace(request, messages=())) - 1
    reused, done = evaluate_prompt(engine.cache, engine.prefix_store, {}, tokens, n)
    assert done and reused == 0 and len(engine.prefix_store._memory) == 1
    key = next(iter(engine.prefix_store._memory))
    held_tokens, data = engine.prefix_store._memory[key]
    half = (ctypes.c_uint8 * (len(data) // 2)).from_buffer_copy(bytes(data)[: len(data) // 2])
    engine.prefix_store._memory[key] = (held_tokens, half)
    engine.cache.clear()
    reused, done = evaluate_prompt(engine.cache, engine.prefix_store, {}, tokens, n)
    assert done and reused == 0 and engine.prefix_store.stats.dropped == 1
    assert len(engine.prefix_store._memory[key][1]) == len(data)  # stored again, whole
    reused, done = evaluate_prompt(engine.cache, engine.prefix_store, {}, tokens, n)
    # the same prompt again: the live cache's checkpoint at its end serves all but the last token
    assert done and reused == len(tokens) - 1 > n
    engine.unload()


def _logits(engine: LlamaEngine, request: ChatRequest) -> tuple[np.ndarray, ReplyStats]:
    """The logits llama.cpp computed last for `request` (after one greedy token)."""
    done = list(engine.stream(replace(request, max_tokens=1)))[-1]
    assert isinstance(done, Done)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(engine._model))
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(engine._ctx, -1), (n_vocab,))
    return logits.copy(), done.stats


@pytest.mark.slow
def test_gemma_restores_a_prefix_longer_than_its_window(gemma_path: Path, tmp_path: Path):
    """Gemma 3 is a real model with a 512-token window: the ~1,800-token opening leaves both the
    global layers and the window's cells to the stored state. After a restart, its reply and its
    logits equal those of an engine that evaluated the opening itself, bit for bit; the reply
    equals that of an engine without any store; and the logits do depend on the opening."""
    load = LoadConfig(n_ctx=4096, n_batch=256)
    assert read_gguf(gemma_path).arch_key("attention.sliding_window") == 512
    system = "You help with files, repositories and the web.\n\n" + tools_as_text()
    engine = _engine(gemma_path, PrefixStore(tmp_path / "a"), load)
    _run(engine, _ask("Which tool reads a file?", tools=(), system=system, max_tokens=8))
    engine.unload()
    second = _ask("Which tool shows the recent commits?", tools=(), system=system, max_tokens=48)
    restarted_store = PrefixStore(tmp_path / "a")
    restarted = _engine(gemma_path, restarted_store, load)
    text, stats = _run(restarted, second)
    restored_logits, stats_l = _logits(restarted, second)
    restarted.unload()
    assert restarted_store.stats.disk_hits == 1 and stats.reused_prompt_tokens > 1500
    assert stats_l.reused_prompt_tokens > 1500
    fresh = _engine(gemma_path, PrefixStore(tmp_path / "b"), load)
    fresh_text, fresh_stats = _run(fresh, second)
    fresh_logits, _ = _logits(fresh, second)
    fresh.cache.clear()  # type: ignore[union-attr]
    other_logits, _ = _logits(fresh, replace(second, system_prompt=system.replace("file", "photo")))
    fresh.unload()
    assert fresh_stats.reused_prompt_tokens == 0
    assert text == fresh_text and len(text) > 40
    assert np.array_equal(restored_logits, fresh_logits)
    assert not np.array_equal(other_logits, fresh_logits)  # (so the comparison can fail)
    assert text == _uncached(gemma_path, second, load)
