"""The GPU code path on a real Vulkan device, in one child process (see test_vulkan.py).

Run with GGML_VK_VISIBLE_DEVICES set so that ggml's Vulkan backend uses Mesa's lavapipe (a
CPU-type device it ignores by default). One process does every check, because ggml picks its
devices once per process and Mesa compiles its pipelines once per process (cached on disk after).
Prints one JSON object: what the planner saw and chose, llama.cpp's own report of where each
layer and tensor went, and the greedy text of each run, for the parent test to judge.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, replace
from typing import Any

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta
from fireside.core.engine.devices import devices, loaded_backends
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.core.models.fit_planner import (
    detect_machine,
    expert_override_patterns,
    plan_fit,
    profile_from_gguf,
)
from fireside.core.models.gguf_info import read_gguf

STORY = "Tell me a long story about the sea and the sky."
LOAD = {"n_ctx": 1024, "n_batch": 64}
N_CPU_MOE = 2


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def take(self) -> list[str]:
        out, self.lines = self.lines, []
        return out


def ask(text: str, *history: Message, max_tokens: int) -> ChatRequest:
    return ChatRequest(messages=(*history, Message("user", text)), max_tokens=max_tokens,
                       sampling=Sampling.greedy())


def run(engine: LlamaEngine, request: ChatRequest) -> dict[str, Any]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    return {"reasoning": "".join(e.text for e in events if isinstance(e, ReasoningDelta)),
            "answer": "".join(e.text for e in events if isinstance(e, AnswerDelta)),
            "prompt_tokens": done.stats.prompt_tokens,
            "reused": done.stats.reused_prompt_tokens,
            "generated": done.stats.reasoning_tokens + done.stats.answer_tokens}


def placement_report(lines: list[str]) -> dict[str, Any]:
    """The lines in which llama.cpp says where layers, tensors and buffers went."""
    keys = ("assigned to device", "overridden to", "offloaded", "model buffer size",
            "KV buffer size", "compute buffer size", "using device")
    return {"lines": [x for x in lines if any(k in x for k in keys)]}


def main(model: str) -> dict[str, Any]:
    capture = _Lines()
    llama_log = logging.getLogger("fireside.llama")
    llama_log.setLevel(logging.DEBUG)
    llama_log.addHandler(capture)
    out: dict[str, Any] = {}

    found = devices()
    out["backends_loaded"] = loaded_backends()
    out["devices"] = [{**asdict(d), "kind": d.kind, "is_gpu": d.is_gpu} for d in found]

    # The planner reads the device's memory through ggml and plans for it.
    machine = detect_machine()
    out["machine"] = {"backend": machine.backend, "gpu_free": machine.gpu_free}
    profile = profile_from_gguf(read_gguf(model))
    out["plan_tiny"] = asdict(plan_fit(profile, machine, max_ctx=LOAD["n_ctx"]))
    # A model 1.5 times the device's free memory, mostly experts (as gpt-oss is): reduced to
    # experts on CPU. A dense one larger than the device and the RAM: refused.
    big = replace(profile, n_layer=24, weights=machine.gpu_free * 3 // 2, host_only=0,
                  expert_bytes_per_layer=machine.gpu_free * 3 // 2 * 9 // 10 // 24)
    out["plan_big_moe"] = asdict(plan_fit(big, machine))
    dense = replace(big, weights=machine.ram_total * 2, expert_bytes_per_layer=0)
    out["plan_too_big"] = asdict(plan_fit(dense, machine))

    # Everything on the device, as the planner says; then KV reuse across the sliding window.
    # No shared-prefix store (the default): "fresh" must evaluate everything, and reuse come from
    # this chat's KV.
    engine = LlamaEngine()
    capture.take()
    info = engine.load(model, LoadConfig(auto_fit=True, **LOAD))
    out["full"] = {"device": info.device, "fit": info.fit, **placement_report(capture.take())}
    first = ask(STORY, max_tokens=280)
    out["full"]["turn1"] = run(engine, first)
    assert engine.cache is not None
    out["full"]["n_past_after_turn1"] = engine.cache.n_past
    second = ask("And then what happened next?", first.messages[0],
                 Message("assistant", "Sure, here it is."), max_tokens=24)
    out["full"]["turn2_reused"] = run(engine, second)
    out["full"]["restores"] = engine.cache.restores
    engine.unload()
    fresh = LlamaEngine()
    fresh.load(model, LoadConfig(n_gpu_layers=-1, **LOAD))
    out["full"]["turn2_fresh"] = run(fresh, second)
    fresh.unload()

    # Experts of the first N_CPU_MOE layers in host memory, the rest on the device.
    capture.take()
    moe = LlamaEngine()
    info = moe.load(model, LoadConfig(n_gpu_layers=-1, swa_full=False,
                                      cpu_tensor_patterns=expert_override_patterns(N_CPU_MOE), **LOAD))
    out["experts_cpu"] = {"device": info.device, "n_cpu_moe": N_CPU_MOE,
                          **placement_report(capture.take()), "reply": run(moe, second)}
    moe.unload()
    return out


if __name__ == "__main__":
    result = main(sys.argv[1])
    print("RESULT " + json.dumps(result), flush=True)
