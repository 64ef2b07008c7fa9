"""ggml's device list (CPU, CUDA0, Metal, Vulkan0...) with free memory, via ctypes.

llama-cpp-python does not wrap ggml's device registry, but its shared library exports it; the
registry lives in libggml (not libggml-base). Used by `doctor` and the fit planner.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

_LIB_NAMES = ("libggml.so", "libggml.dylib", "ggml.dll")


@dataclass(frozen=True)
class Device:
    name: str
    free: int
    total: int

    @property
    def kind(self) -> str:
        """CPU, CUDA, Metal, Vulkan, ROCm or SYCL."""
        upper = self.name.upper()
        for key, label in (("CUDA", "CUDA"), ("METAL", "Metal"), ("MTL", "Metal"),
                           ("VULKAN", "Vulkan"), ("ROCM", "ROCm"), ("HIP", "ROCm"), ("SYCL", "SYCL")):
            if key in upper:
                return label
        return "CPU"


def devices() -> list[Device]:
    """Every device llama.cpp can use; [] if the library cannot be inspected."""
    try:
        import llama_cpp
    except ImportError:
        return []
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    for name in _LIB_NAMES:
        path = os.path.join(libdir, name)
        if not os.path.exists(path):
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.ggml_backend_dev_count.restype = ctypes.c_size_t
            lib.ggml_backend_dev_get.restype = ctypes.c_void_p
            lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
            lib.ggml_backend_dev_name.restype = ctypes.c_char_p
            lib.ggml_backend_dev_name.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_dev_memory.argtypes = [
                ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)
            ]
            found = []
            for i in range(lib.ggml_backend_dev_count()):
                dev = lib.ggml_backend_dev_get(i)
                free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
                lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
                label = lib.ggml_backend_dev_name(dev).decode("utf-8", "replace")
                found.append(Device(label, free.value, total.value))
            return found
        except (OSError, AttributeError):
            continue
    return []
