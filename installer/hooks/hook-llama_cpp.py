"""PyInstaller hook for llama-cpp-python (none ships with PyInstaller or its contrib hooks).

llama_cpp loads llama.cpp with ctypes from `<package dir>/lib` (llama_cpp.llama_cpp._base_path,
overridable with LLAMA_CPP_LIB_PATH), so the libraries must land in `llama_cpp/lib` inside the
bundle, not beside the executable where PyInstaller puts most binaries. Every shared library and
backend in that folder is collected (CPU build: ggml, ggml-base, ggml-cpu, llama, mtmd; a CUDA or
Vulkan build adds its ggml-<backend> library and the same glob picks it up).
"""

from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")  # keeps the lib/ subfolder as the destination

# The OpenAI-compatible server and its web stack (fastapi, uvicorn...) are not part of Fireside.
excludedimports = ["llama_cpp.server"]
