"""The Engine protocol: what the UI and CLI need from anything that can produce a reply.

LlamaEngine (llama_engine.py) is the real, in-process llama.cpp implementation; tests add a scripted
one beside it for deterministic GUI tests. RemoteEngine (remote_engine.py) speaks the OpenAI API.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from fireside.core.chat.conversation import ChatRequest
from fireside.core.chat.events import Event


class EngineError(Exception):
    """A failure with a message written for the person at the keyboard (what happened, what to do)."""


class ContextOverflow(EngineError):
    """The prompt does not fit the model's context. Raised by stream() before any event; the UI
    offers to leave out older turns (context_fit.py) instead of showing an error."""

    def __init__(self, message: str, prompt_tokens: int, n_ctx: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx

    @classmethod
    def for_prompt(cls, prompt_tokens: int, n_ctx: int) -> ContextOverflow:
        """The one wording every engine uses, so what a person reads does not depend on which."""
        return cls(
            f"This conversation ({prompt_tokens:,} tokens) is longer than the model's "
            f"{n_ctx:,}-token context. Shorten your message, start a new chat, or raise the "
            "context size in Load settings.",
            prompt_tokens, n_ctx)


class ModelLoadError(EngineError):
    """The model file could not be loaded; nothing else is affected."""


class BadModelFile(ModelLoadError):
    """The file itself is refused (damaged, or llama.cpp cannot read it): bad input, exit 2 in the
    CLI. Raised before the loaded model, if any, is unloaded, so it stays loaded."""


def physical_cores() -> int:
    """llama.cpp generates fastest with one thread per physical core, not per hyper-thread."""
    try:
        cores: set[tuple[str, str]] = set()
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            phys = core = ""
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip() and core:
                    cores.add((phys, core))
                    phys = core = ""
            if core:
                cores.add((phys, core))
        if cores:
            return len(cores)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2) if (os.cpu_count() or 1) > 2 else (os.cpu_count() or 1)


@dataclass(frozen=True)
class LoadConfig:
    """How to load a model. The fit planner (later) fills this in; power users can override it."""

    n_ctx: int = 8192  # 0: as large as the fit planner says this machine can hold
    n_threads: int | None = None  # None: one per physical core
    n_batch: int = 512
    n_gpu_layers: int = 0  # -1 offloads every layer
    flash_attn: bool = True
    # False keeps only the sliding window (plus a batch) for gpt-oss's SWA layers: half the KV memory.
    # Prefix reuse stays exact through SWA checkpoints (see llama_engine.py).
    swa_full: bool = False
    use_mmap: bool = True
    # llama.cpp tensor-name regexes whose weights stay in RAM (experts on CPU); see hardware.py
    cpu_tensor_patterns: tuple[str, ...] = ()
    # Let the fit planner (hardware.py) choose GPU layers, experts on CPU and, when n_ctx is 0,
    # the context; the fields above then act as a ceiling (n_ctx) or are replaced (GPU split).
    auto_fit: bool = False
    # Prompt-lookup speculative decoding (speculative.py): drafts from the conversation, verified
    # in one batch; off gives plain one-token-at-a-time decoding. Off by default until llama.cpp's
    # batched rows are bit-identical to single-token decoding (see speculative.py).
    speculative: bool = False

    def threads(self) -> int:
        return self.n_threads if self.n_threads else physical_cores()


@dataclass(frozen=True)
class ModelInfo:
    """What the UI shows about the loaded model."""

    path: str
    name: str
    architecture: str
    prompt_format: str  # "harmony" | "template" | "plain" | "remote" (rendered by a server)
    n_ctx: int
    n_ctx_train: int
    size_bytes: int
    note: str = ""  # a sentence for the user, e.g. that a base model has no chat template
    fit: str = ""  # the fit planner's verdict, e.g. "Runs on CPU, slow", when it chose the setup
    device: str = ""  # where it runs: "GPU (Vulkan: NAME), 24 of 24 layers" or "CPU"

    @property
    def is_harmony(self) -> bool:
        return self.prompt_format == "harmony"

    @property
    def is_remote(self) -> bool:
        return self.prompt_format == "remote"

    @property
    def supports_effort(self) -> bool:
        """Reasoning effort (and the reasoning panel) apply: gpt-oss here, or any remote model
        (the server ignores or refuses effort for a model without it; RemoteEngine copes)."""
        return self.prompt_format in ("harmony", "remote")


class Engine(Protocol):
    """Loads one model at a time and streams replies. Not thread-safe: one worker thread owns it."""

    @property
    def info(self) -> ModelInfo | None: ...

    def load(self, path: str, config: LoadConfig | None = None) -> ModelInfo:
        """Load a model, replacing any loaded one. Raises ModelLoadError with a readable message."""
        ...

    def render_prompt(self, request: ChatRequest) -> str:
        """The exact prompt text the next reply would be generated from."""
        ...

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """How many tokens the prompt for `request` takes (render_prompt, then tokenize)."""
        ...

    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Yield reasoning/answer deltas as they are generated, then exactly one Done.

        Setting `cancel` stops generation between two tokens; Done then reports stop_reason
        "cancelled". A tool call that ends the step (harmony's `<|call|>`) is yielded as ToolCall,
        then Done with stop_reason "tool_call"; the caller runs it and asks again with the call
        and its result appended. Raises EngineError only before the first event (e.g. no model
        loaded, or request.json_schema cannot be compiled: SchemaError), and ContextOverflow when
        the prompt does not fit the context.
        """
        ...

    def unload(self) -> None: ...
