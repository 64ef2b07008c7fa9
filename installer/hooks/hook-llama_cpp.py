"""PyInstaller hook for llama-cpp-python (none ships with PyInstaller or its contrib hooks).

llama_cpp loads llama.cpp with ctypes from `<package dir>/lib` (llama_cpp.llama_cpp._base_path,
overridable with LLAMA_CPP_LIB_PATH), so the libraries must land in `llama_cpp/lib` inside the
bundle, not beside the executable where PyInstaller puts most binaries. Every shared library and
backend in that folder is collected (ggml, ggml-base, llama, mtmd, and the backend modules that
Fireside loads from that same folder at start, core/engine/devices.py: the CPU backend's variants
(ggml-cpu-x64 ... ggml-cpu-sapphirerapids, GGML_CPU_ALL_VARIANTS; ggml picks one per machine),
ggml-vulkan, and ggml-cuda in a CUDA build). Nothing links the modules, so only this glob brings them; their own
dependencies (libvulkan.so.1, the CUDA runtime) come through PyInstaller's dependency analysis.
"""

from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp")  # keeps the lib/ subfolder as the destination

# The OpenAI-compatible server and its web stack (fastapi, uvicorn...) are not part of Fireside.
excludedimports = ["llama_cpp.server"]
