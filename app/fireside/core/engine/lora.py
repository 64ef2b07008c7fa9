"""LoRA adapters on the loaded model: loaded once, attached per request, never reloading the model.

llama.cpp keeps an adapter's weights next to the model's (`llama_adapter_lora_init`, a few MB for
a rank-16 attention adapter) and adds `scale * alpha / rank * B(A x)` to every adapted matmul of
the contexts it is attached to (`llama_set_adapters_lora`, several at once, each with its scale;
a scale of 0 leaves it out). Attaching a different set costs no reload, only a new compute graph
on the next decode.

Every file is checked in pure Python (core.models.adapters) against the loaded model before
llama.cpp reads it. `apply` returns a key naming the adapter set in force (file identity and
scale, zero scales left out); the KV prefix cache is keyed by it, because cells computed under one
set are wrong under another.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import time
from collections.abc import Iterable
from typing import TypeAlias, cast

import llama_cpp

from fireside.core.chat.conversation import AdapterUse
from fireside.core.engine.protocol import EngineError
from fireside.core.models.adapters import AdapterError, check_adapter
from fireside.core.models.gguf_info import GGUFInfo

log = logging.getLogger(__name__)

AdapterKey = tuple[tuple[str, int, int, float], ...]  # (real path, size, mtime_ns, scale)
# llama_adapter_lora_init's result as ctypes returns it (restype POINTER(c_void_p))
Handle: TypeAlias = "ctypes._Pointer[ctypes.c_void_p]"


def _f32(x: float) -> float:
    """The scale as llama.cpp stores and compares it (a C float)."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _identity(path: str) -> tuple[str, int, int]:
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        raise EngineError(f"The adapter {os.path.basename(path)} is no longer there.") from None
    return real, st.st_size, st.st_mtime_ns


def in_effect(uses: Iterable[AdapterUse]) -> tuple[AdapterUse, ...]:
    """The adapters that change anything: llama.cpp leaves out a scale of 0 (as a C float)."""
    return tuple(u for u in uses if _f32(u.scale) != 0.0)


def adapter_key(uses: Iterable[AdapterUse]) -> AdapterKey:
    """What the KV cache depends on: which files (as they are on disk now) at which scales."""
    key = [(*_identity(u.path), _f32(u.scale)) for u in in_effect(uses)]
    return tuple(sorted(key))


class LoraSet:
    """The adapters loaded for one model and the set attached to its context."""

    def __init__(self, model: llama_cpp.llama_model_p, ctx: llama_cpp.llama_context_p,
                 base: GGUFInfo) -> None:
        self._model, self._ctx, self._base = model, ctx, base
        self._loaded: dict[tuple[str, int, int], Handle] = {}
        self.active: AdapterKey = ()
        self.last_switch_s = 0.0  # how long the last change of set took (loading included)

    @property
    def loaded(self) -> int:
        return len(self._loaded)

    def apply(self, uses: Iterable[AdapterUse]) -> AdapterKey:
        """Attach exactly `uses` (scale 0: not at all); EngineError when one cannot be used."""
        uses = tuple(uses)
        key = adapter_key(uses)
        if key == self.active:
            return key
        t0 = time.perf_counter()
        pointers = [self._adapter(path, size, mtime) for path, size, mtime, _ in key]
        n = len(key)
        if n:
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * n)(*pointers)
            scales = (ctypes.c_float * n)(*(scale for *_, scale in key))
            rc = llama_cpp.llama_set_adapters_lora(self._ctx, arr, n, scales)
        else:
            rc = llama_cpp.llama_set_adapters_lora(self._ctx, None, 0, None)
        if rc != 0:
            raise EngineError("llama.cpp could not apply the adapters to this model.")
        self.active = key
        self.last_switch_s = time.perf_counter() - t0
        log.info("adapters now %s (%.1f ms)", [os.path.basename(k[0]) for k in key] or "none",
                 self.last_switch_s * 1000)
        return key

    def _adapter(self, path: str, size: int, mtime: int) -> Handle:
        ident = (path, size, mtime)
        found = self._loaded.get(ident)
        if found is not None:
            return found
        for old in [k for k in self._loaded if k[0] == path]:  # the file changed on disk
            self._detach()
            llama_cpp.llama_adapter_lora_free(self._loaded.pop(old))
        try:
            check_adapter(path, self._base)  # never hand llama.cpp a file it could trip on
        except AdapterError as e:
            raise EngineError(str(e)) from None
        ptr = cast("Handle | None", llama_cpp.llama_adapter_lora_init(self._model, path.encode("utf-8")))
        if not ptr:
            raise EngineError(f"llama.cpp could not load the adapter {os.path.basename(path)} "
                              "(see the log for its reason).")
        self._loaded[ident] = ptr
        return ptr

    def _detach(self) -> None:
        llama_cpp.llama_set_adapters_lora(self._ctx, None, 0, None)
        self.active = ()

    def free(self) -> None:
        """Detach and free every adapter; call before the context and model are freed."""
        if self._loaded:
            self._detach()
        for ptr in self._loaded.values():
            llama_cpp.llama_adapter_lora_free(ptr)
        self._loaded.clear()
