"""Experts on CPU through llama.cpp's tensor buffer-type overrides, proven on a real load."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import Done
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.core.engine.tensor_overrides import cpu_overrides
from fireside.core.models.fit_planner import expert_override_patterns


def test_array_is_null_terminated_and_points_at_the_cpu_buffer_type():
    arr = cpu_overrides(expert_override_patterns(2))
    assert arr is not None and len(arr.array) == 3
    assert arr.array[0].pattern == rb"blk\.0\.ffn_(up|down|gate)_exps"
    assert arr.array[0].buft and arr.array[0].buft == arr.array[1].buft
    assert arr.array[2].pattern is None and not arr.array[2].buft
    assert cpu_overrides(()) is None


def test_override_is_applied_and_the_model_still_generates(tiny_gptoss_path: Path,
                                                           caplog: pytest.LogCaptureFixture):
    engine = LlamaEngine()
    config = LoadConfig(n_ctx=512, n_threads=2, cpu_tensor_patterns=expert_override_patterns(2))
    with caplog.at_level(logging.DEBUG, logger="fireside.llama"):
        engine.load(str(tiny_gptoss_path), config)
    try:
        moved = {r.getMessage().split()[1] for r in caplog.records
                 if "buffer type overridden to CPU" in r.getMessage()}
        assert moved == {f"blk.{i}.ffn_{k}_exps.{w}" for i in (0, 1)
                         for k in ("up", "down", "gate") for w in ("weight", "bias")}
        request = ChatRequest(messages=(Message("user", "Hi"),), max_tokens=8,
                              sampling=Sampling.for_model(True, seed=1))
        events = list(engine.stream(request))
        assert isinstance(events[-1], Done) and events[-1].stats.prompt_tokens > 0
    finally:
        engine.unload()
