"""llama.cpp tensor buffer-type overrides through llama-cpp-python's ctypes, for experts on CPU.

llama-cpp-python 0.3.x declares `llama_model_params.tensor_buft_overrides` as a bare pointer and
never fills it, so `--n-cpu-moe` / `-ot` have no Python equivalent. The struct llama.cpp reads is
`{const char *pattern; ggml_backend_buffer_type_t buft;}`, NULL-terminated; the CPU buffer type
is the CPU device's, from ggml's device registry (the very pointer llama.cpp compares against,
whether the CPU backend is built in or a loaded module).

The returned object owns the pattern strings and the array: keep it alive until the model is
loaded (llama.cpp copies what it needs during load).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from fireside.core.engine.devices import cpu_buffer_type


class _Override(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


@dataclass
class OverrideArray:
    array: ctypes.Array[_Override]
    strings: list[bytes]

    @property
    def pointer(self) -> int:
        return ctypes.addressof(self.array)


def _cpu_buffer_type() -> int:
    buft = cpu_buffer_type()
    if not buft:
        raise OSError("llama.cpp's CPU backend is not loaded.")
    return buft


def cpu_overrides(patterns: tuple[str, ...]) -> OverrideArray | None:
    """A NULL-terminated override array sending every tensor matching a pattern to the CPU."""
    if not patterns:
        return None
    buft = _cpu_buffer_type()
    strings = [p.encode("utf-8") for p in patterns]
    array = (_Override * (len(strings) + 1))()
    for i, s in enumerate(strings):
        array[i].pattern = s
        array[i].buft = buft
    array[len(strings)].pattern = None
    array[len(strings)].buft = None
    return OverrideArray(array, strings)
