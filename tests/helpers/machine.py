"""What the machine running the tests has, asked of llama.cpp's device list, so tests that load a
real model expect the right thing on a CPU-only box and on one with a GPU alike."""

from __future__ import annotations

from fireside.core.engine.devices import Device, devices


def gpus() -> list[Device]:
    """The non-CPU devices llama.cpp sees (CUDA0, Vulkan0, Metal, ...), in its own order."""
    return [d for d in devices() if d.kind != "CPU"]


def expected_backend() -> str:
    """What `fireside doctor` should report: the GPU's kind when this llama.cpp build can offload
    to one that is present, otherwise CPU."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    found = gpus()
    return found[0].kind if found and llama_cpp.llama_supports_gpu_offload() else "CPU"
