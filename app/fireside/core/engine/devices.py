"""ggml's backends (CPU, Vulkan, CUDA, Metal...) and devices with their memory, via ctypes.

Our llama.cpp build keeps its backends in loadable modules (`GGML_BACKEND_DL`): the CPU backend and
libggml-vulkan (or libggml-cuda) sit in llama_cpp/lib, and nothing runs until they are loaded.
On Linux x86-64 the CPU backend is built once per instruction-set level (`GGML_CPU_ALL_VARIANTS`:
libggml-cpu-x64.so, -sse42, -sandybridge, -haswell, -skylakex, -icelake, -zen4, -sapphirerapids...).
ggml's loader asks each for its score on the running processor (`ggml_backend_score`: 0 when the
CPU lacks an instruction it needs, more for every extension it uses) and loads the highest, so an
old CPU without AVX2 still runs and one with AVX-512 gets those kernels. `cpu_module()` says
which one was loaded, `cpu_variant_scores()` what each one scores here.
llama.cpp's own `ggml_backend_load_all()` looks next to the executable (python) and in the current
directory, never in llama_cpp/lib, and llama-cpp-python 0.3.36 does not load them either; so
`load_backends()` does, once per process, before llama.cpp initialises. A module that cannot load
(libggml-vulkan without a Vulkan loader or driver) is skipped by ggml and the CPU remains.

A CPU-type Vulkan device (Mesa's lavapipe) is slower than the CPU backend; ggml's Vulkan backend
leaves it out unless `GGML_VK_VISIBLE_DEVICES` names it, which only tests do.

A CUDA module (scripts/build-cuda-backend.sh) needs NVIDIA's driver (libcuda.so.1) and the CUDA
runtime and cuBLAS it was built with; ggml skips it silently when one is missing, so
`gpu_absent_reason()` asks the dynamic loader which one and says so. With the driver but no usable
GPU, the module loads and registers a CUDA backend with no device.

llama-cpp-python does not wrap ggml's device registry, but libggml exports it. Used by the engine,
`doctor` and the fit planner.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import threading
from dataclasses import dataclass

# The soname first: pip installs libggml.so, .so.0 and .so.0.y.z as three separate copies, and
# dlopen of another copy than the one libllama linked would give a second, empty registry.
_LIB_NAMES = ("libggml.so.0", "libggml.so", "libggml.dylib", "libggml.0.dylib", "ggml.dll")
# ggml_backend_dev_type
TYPE_CPU, TYPE_GPU, TYPE_IGPU, TYPE_ACCEL = 0, 1, 2, 3
_TYPE_NAMES = {TYPE_CPU: "CPU", TYPE_GPU: "GPU", TYPE_IGPU: "integrated GPU", TYPE_ACCEL: "accelerator"}
# ggml backend registry names -> what we call them
_KINDS = {"CPU": "CPU", "CUDA": "CUDA", "MTL": "Metal", "METAL": "Metal", "VULKAN": "Vulkan",
          "ROCM": "ROCm", "HIP": "ROCm", "SYCL": "SYCL", "BLAS": "BLAS", "RPC": "RPC"}
_MODULE_PREFIX = {"win32": "ggml-", "darwin": "libggml-"}.get(sys.platform, "libggml-")
_MODULE_SUFFIX = {"win32": ".dll", "darwin": ".so"}.get(sys.platform, ".so")
_NOT_MODULES = {"base"}
_CPU_VARIANT_PREFIX = _MODULE_PREFIX + "cpu-"  # libggml-cpu-haswell.so; a single build: libggml-cpu.so

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_loaded = False


@dataclass(frozen=True)
class Device:
    name: str  # ggml's name: CPU, Vulkan0, CUDA0, MTL0
    free: int
    total: int
    description: str = ""  # e.g. "NVIDIA GeForce RTX 4080", "llvmpipe (LLVM 15.0.6, 256 bits)"
    backend: str = ""  # the registry it came from: CPU, Vulkan, CUDA, Metal
    type: int = TYPE_CPU

    @property
    def kind(self) -> str:
        """CPU, CUDA, Metal, Vulkan, ROCm or SYCL."""
        if self.backend:
            return _KINDS.get(self.backend.upper(), self.backend)
        upper = self.name.upper()
        for key, label in (("CUDA", "CUDA"), ("METAL", "Metal"), ("MTL", "Metal"),
                           ("VULKAN", "Vulkan"), ("ROCM", "ROCm"), ("HIP", "ROCm"), ("SYCL", "SYCL")):
            if key in upper:
                return label
        return "CPU"

    @property
    def is_gpu(self) -> bool:
        return self.type in (TYPE_GPU, TYPE_IGPU)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, "device")


def lib_dir() -> str | None:
    """llama_cpp/lib, where the shared libraries and backend modules are; None without llama_cpp."""
    try:
        import llama_cpp
    except ImportError:
        return None
    return os.path.join(os.path.dirname(llama_cpp.__file__), "lib")


def _ggml() -> ctypes.CDLL | None:
    global _lib
    if _lib is not None:
        return _lib
    libdir = lib_dir()
    if libdir is None:
        return None
    # llama_cpp is imported (lib_dir), so libllama and the libggml it links are loaded: by its
    # bare soname, dlopen hands back that very library.
    candidates = ["libggml.so.0"] if sys.platform.startswith("linux") else []
    candidates += [os.path.join(libdir, n) for n in _LIB_NAMES if os.path.exists(os.path.join(libdir, n))]
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
            for fn, res, args in (
                ("ggml_backend_reg_count", sz, []), ("ggml_backend_reg_get", vp, [sz]),
                ("ggml_backend_reg_name", cp, [vp]), ("ggml_backend_dev_count", sz, []),
                ("ggml_backend_dev_get", vp, [sz]), ("ggml_backend_dev_name", cp, [vp]),
                ("ggml_backend_dev_description", cp, [vp]), ("ggml_backend_dev_type", ctypes.c_int, [vp]),
                ("ggml_backend_dev_backend_reg", vp, [vp]),
                ("ggml_backend_dev_memory", None, [vp, ctypes.POINTER(sz), ctypes.POINTER(sz)]),
                ("ggml_backend_dev_by_type", vp, [ctypes.c_int]),
                ("ggml_backend_dev_buffer_type", vp, [vp]),
                ("ggml_backend_load_all_from_path", None, [cp]),
                ("ggml_backend_reg_dev_count", sz, [vp]),
            ):
                f = getattr(lib, fn)
                f.restype, f.argtypes = res, args
        except (OSError, AttributeError):
            continue
        _lib = lib
        return lib
    return None


def load_backends() -> None:
    """Load the backend modules in llama_cpp/lib (once), unless the build has them built in."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        lib, libdir = _ggml(), lib_dir()
        if lib is None or libdir is None:
            return
        if lib.ggml_backend_dev_by_type(TYPE_CPU):
            return  # a build with the backends linked in, or already loaded
        lib.ggml_backend_load_all_from_path(libdir.encode())


def _module_files() -> list[str]:
    libdir = lib_dir()
    if libdir is None or not os.path.isdir(libdir):
        return []
    return sorted(f for f in os.listdir(libdir)
                  if f.startswith(_MODULE_PREFIX) and f.endswith(_MODULE_SUFFIX))


def backend_modules() -> list[str]:
    """The backends this build ships as modules (cpu, vulkan, cuda...), loadable or not; the CPU
    backend's variants (cpu_variants()) count as one, cpu."""
    found = set()
    for f in _module_files():
        name = f[len(_MODULE_PREFIX):-len(_MODULE_SUFFIX)]
        if name not in _NOT_MODULES:
            found.add("cpu" if name.startswith("cpu-") else name)
    return sorted(found)


def cpu_variants() -> list[str]:
    """The CPU backend's variants this build ships (haswell, skylakex...); [] for a single build."""
    return [f[len(_CPU_VARIANT_PREFIX):-len(_MODULE_SUFFIX)] for f in _module_files()
            if f.startswith(_CPU_VARIANT_PREFIX)]


def variant_of(module: str) -> str:
    """"haswell" for libggml-cpu-haswell.so; "" for a single build's libggml-cpu.so or no module."""
    name = os.path.basename(module)
    if name.startswith(_CPU_VARIANT_PREFIX) and name.endswith(_MODULE_SUFFIX):
        return name[len(_CPU_VARIANT_PREFIX):-len(_MODULE_SUFFIX)]
    return ""


def cpu_variant_scores() -> dict[str, int]:
    """Each CPU variant's score on this processor, asked of the module itself as ggml's loader
    does (`ggml_backend_score`): 0 means it needs an instruction this CPU lacks. {} for a single
    build. Each module is opened and closed again; none is registered with ggml."""
    libdir = lib_dir()
    if libdir is None or sys.platform == "win32":
        return {}
    scores: dict[str, int] = {}
    for variant in cpu_variants():
        path = os.path.join(libdir, f"{_CPU_VARIANT_PREFIX}{variant}{_MODULE_SUFFIX}")
        try:
            module = ctypes.CDLL(path)  # RTLD_LOCAL: its symbols stay out of the process's namespace
        except OSError:
            scores[variant] = 0  # cannot even be opened here: ggml skips it too
            continue
        try:
            score = module.ggml_backend_score
            score.restype, score.argtypes = ctypes.c_int, []
            scores[variant] = int(score())
        except AttributeError:
            scores[variant] = 0  # no score: ggml's loader skips a variant that cannot say
        finally:
            _dlclose(module)
    return scores


def _dlclose(module: ctypes.CDLL) -> None:
    libc = ctypes.CDLL(None)
    libc.dlclose.argtypes = [ctypes.c_void_p]
    libc.dlclose(ctypes.c_void_p(module._handle))


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def cpu_module() -> str:
    """The file the CPU backend ggml registered lives in (…/libggml-cpu-haswell.so), found with
    dladdr() on its registry entry; "" when there is no CPU backend or this cannot be asked."""
    load_backends()
    lib = _ggml()
    if lib is None or sys.platform == "win32":
        return ""
    dev = lib.ggml_backend_dev_by_type(TYPE_CPU)
    reg = lib.ggml_backend_dev_backend_reg(dev) if dev else None
    if not reg:
        return ""
    info = _DlInfo()
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except AttributeError:
        return ""
    dladdr.restype, dladdr.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    if not dladdr(ctypes.c_void_p(reg), ctypes.byref(info)) or not info.dli_fname:
        return ""
    return os.fsdecode(info.dli_fname)


def loaded_backends() -> list[str]:
    """The backends ggml registered (CPU, Vulkan...): the modules that loaded."""
    load_backends()
    lib = _ggml()
    if lib is None:
        return []
    names = []
    for i in range(lib.ggml_backend_reg_count()):
        raw = lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)) or b"?"
        names.append(_KINDS.get(raw.decode("utf-8", "replace").upper(), raw.decode("utf-8", "replace")))
    return names


def devices() -> list[Device]:
    """Every device llama.cpp can use, GPUs first; [] if the library cannot be inspected."""
    load_backends()
    lib = _ggml()
    if lib is None:
        return []
    found = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        reg = lib.ggml_backend_dev_backend_reg(dev)
        backend = (lib.ggml_backend_reg_name(reg) or b"").decode("utf-8", "replace") if reg else ""
        found.append(Device(
            name=(lib.ggml_backend_dev_name(dev) or b"?").decode("utf-8", "replace"),
            free=free.value, total=total.value,
            description=(lib.ggml_backend_dev_description(dev) or b"").decode("utf-8", "replace"),
            backend=_KINDS.get(backend.upper(), backend), type=int(lib.ggml_backend_dev_type(dev)),
        ))
    return found


def cpu_buffer_type() -> int:
    """The CPU device's buffer type (host memory), for tensor overrides; 0 if there is none."""
    load_backends()
    lib = _ggml()
    if lib is None:
        return 0
    dev = lib.ggml_backend_dev_by_type(TYPE_CPU)
    return int(lib.ggml_backend_dev_buffer_type(dev) or 0) if dev else 0


def backend_device_counts() -> dict[str, int]:
    """Each registered backend and how many devices it found: {"CPU": 1, "Vulkan": 0, "CUDA": 0}."""
    load_backends()
    lib = _ggml()
    if lib is None:
        return {}
    counts = {}
    for i in range(lib.ggml_backend_reg_count()):
        reg = lib.ggml_backend_reg_get(i)
        raw = (lib.ggml_backend_reg_name(reg) or b"?").decode("utf-8", "replace")
        counts[_KINDS.get(raw.upper(), raw)] = int(lib.ggml_backend_reg_dev_count(reg))
    return counts


def module_load_error(module: str) -> str:
    """What the dynamic loader says when asked for a backend module ggml did not register; ""
    if it loads. ggml stays silent about a module it cannot load (a missing driver is normal)."""
    libdir = lib_dir()
    if libdir is None:
        return ""
    try:
        ctypes.CDLL(os.path.join(libdir, f"{_MODULE_PREFIX}{module}{_MODULE_SUFFIX}"))
    except OSError as e:
        return str(e)
    return ""


_MISSING_LIB = re.compile(r"([\w.+-]+\.(?:so[\w.]*|dylib|dll))[:'\"]? cannot open shared object file")
_GPU_VENDOR = {"CUDA": "NVIDIA GPU", "ROCm": "AMD GPU", "Metal": "Metal GPU", "SYCL": "Intel GPU"}


def _load_failure(name: str, error: str) -> str:
    """Why backend `name` ("CUDA", "Vulkan"...) did not load, from the loader's message, as a clause."""
    found = _MISSING_LIB.search(error)
    missing = found.group(1) if found else ""
    if name == "CUDA" and missing.startswith("libcuda."):
        return f"the CUDA backend needs NVIDIA's driver ({missing}), which is not installed"
    if name == "CUDA" and missing.startswith(("libcudart", "libcublas")):
        return (f"the CUDA backend is missing NVIDIA's {missing}, the CUDA runtime it was built "
                "with (see installer/README.md, CUDA)")
    if name == "Vulkan" and missing.startswith("libvulkan"):
        return f"the Vulkan backend needs the Vulkan loader ({missing}), which is not installed"
    if missing:
        return f"the {name} backend could not be loaded: {missing} is not installed"
    return f"the {name} backend could not be loaded (no driver for it is installed)"


def gpu_absent_reason() -> str:
    """Why llama.cpp has no GPU to use, as a sentence; "" when it has one."""
    if any(d.is_gpu for d in devices()):
        return ""
    modules = [m for m in backend_modules() if not m.startswith("cpu")]
    counts = {name.lower(): n for name, n in backend_device_counts().items()}
    if not modules:
        return "No GPU in use: this build of llama.cpp runs on the CPU only."
    clauses = []
    for m in modules:
        name = _KINDS.get(m.split("-")[0].upper(), m.capitalize())
        if m.split("-")[0] in counts or name.lower() in counts:
            # Loaded: CUDA with the driver but no usable GPU, Vulkan with no (or only CPU-type) device.
            clauses.append(f"the {name} backend found no {_GPU_VENDOR.get(name, 'GPU')} on this computer")
        else:
            clauses.append(_load_failure(name, module_load_error(m)))
    return f"No GPU in use: {'; '.join(clauses)}, so the CPU does the work."
