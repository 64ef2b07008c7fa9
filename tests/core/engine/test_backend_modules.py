"""What Fireside says about a CUDA backend module that cannot run: never a crash, always a reason.

A real libggml-cuda.so takes an hour to compile (scripts/build-cuda-backend.sh), and no CI machine
has an NVIDIA GPU, so the module here is a stand-in compiled in a fraction of a second: a ggml
backend registering itself as "CUDA" with no device, linked like the real one against NVIDIA's
driver (libcuda.so.1) and cuBLAS (libcublas.so.13), here two empty libraries with those sonames.
Everything else is real: the bundle's own CPU (and Vulkan) modules beside it, ggml loading the
folder, the dynamic loader refusing a module whose libraries are missing, and `fireside doctor`.
The real module, built on a machine without a GPU, behaves the same (installer/README.md, CUDA).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fireside.core.engine.devices import lib_dir

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF shared libraries")

# ggml's backend interface as ggml/src/ggml-backend-impl.h of llama-cpp-python 0.3.36 declares it
# (GGML_BACKEND_API_VERSION 2); ggml refuses a module of another version, and this test would say so.
STAND_IN = r"""
#include <stddef.h>
struct reg;
struct reg_i {
    const char * (*get_name)(struct reg *);
    size_t (*get_device_count)(struct reg *);
    void * (*get_device)(struct reg *, size_t);
    void * (*get_proc_address)(struct reg *, const char *);
};
struct reg { int api_version; struct reg_i iface; void * context; };
extern int cuDriverGetVersion(int *);
extern int cublasCreate_v2(void **);
static const char * name(struct reg * r) { (void) r; return "CUDA"; }
static size_t count(struct reg * r) { (void) r; return 0; }  /* the driver found no GPU */
static void * device(struct reg * r, size_t i) { (void) r; (void) i; return NULL; }
static void * proc(struct reg * r, const char * n) { (void) r; (void) n; return NULL; }
static struct reg the_reg = { 2, { name, count, device, proc }, NULL };
struct reg * ggml_backend_init(void) {
    return (cuDriverGetVersion && cublasCreate_v2) ? &the_reg : NULL;
}
"""


def _cc(out: Path, source: str, *args: str) -> None:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src), *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A llama_cpp/lib with the real CPU/Vulkan modules and a stand-in CUDA module; the driver
    and cuBLAS stand-ins each in a folder of their own, found only when put on LD_LIBRARY_PATH."""
    root = tmp_path_factory.mktemp("cuda-bundle")
    real = Path(lib_dir() or "")
    lib, driver, cublas = root / "lib", root / "driver", root / "cublas"
    for d in (lib, driver, cublas):
        d.mkdir()
    for module in real.glob("libggml-*.so"):
        if module.name != "libggml-base.so":
            (lib / module.name).symlink_to(module)
    # one CPU module, or one per CPU variant (GGML_CPU_ALL_VARIANTS: libggml-cpu-haswell.so, ...)
    assert any(lib.glob("libggml-cpu*.so")) and not (real / "libggml-cpu.so.0").exists(), (
        f"{real} has no loadable backend modules (GGML_BACKEND_DL): run scripts/install.sh")
    _cc(driver / "libcuda.so.1", "int cuDriverGetVersion(int *v) { *v = 0; return 100; }\n",
        "-Wl,-soname,libcuda.so.1")
    _cc(cublas / "libcublas.so.13", "int cublasCreate_v2(void **h) { *h = 0; return 1; }\n",
        "-Wl,-soname,libcublas.so.13")
    _cc(lib / "libggml-cuda.so", STAND_IN, "-Wl,--no-as-needed", str(driver / "libcuda.so.1"),
        str(cublas / "libcublas.so.13"))
    return {"lib": lib, "driver": driver, "cublas": cublas}


def _doctor(bundle: dict[str, Path], *found: str, text: bool = False) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT)]),
           "LD_LIBRARY_PATH": os.pathsep.join(str(bundle[f]) for f in found)}
    args = ["doctor"] if text else ["doctor", "--json"]
    child = [sys.executable, "-m", "tests.core.engine.backend_dir_child", str(bundle["lib"]), *args]
    proc = subprocess.run(child, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout if text else json.loads(proc.stdout)["llama"]


def test_cuda_present_without_a_gpu_falls_back_to_the_cpu_and_says_so(bundle: dict[str, Path]):
    llama = _doctor(bundle, "driver", "cublas")
    assert "cuda" in llama["backend_modules"]
    assert "CUDA" in llama["backends_loaded"] and llama["backend_devices"]["CUDA"] == 0
    assert llama["backend"] == "CPU" and llama["devices"] == ["CPU"]
    note = llama["gpu_note"]
    assert note.startswith("No GPU in use: the CUDA backend found no NVIDIA GPU on this computer"), note
    assert llama["gpu_note"].endswith(", so the CPU does the work.")
    text = _doctor(bundle, "driver", "cublas", text=True)
    assert "CUDA (no device)" in next(x for x in text.splitlines() if x.startswith("Backends:"))


def test_cuda_without_the_nvidia_driver_is_named(bundle: dict[str, Path]):
    llama = _doctor(bundle, "cublas")
    assert "CUDA" not in llama["backends_loaded"] and llama["devices"] == ["CPU"]
    assert ("the CUDA backend needs NVIDIA's driver (libcuda.so.1), which is not installed"
            in llama["gpu_note"]), llama["gpu_note"]


def test_cuda_without_its_runtime_libraries_is_named(bundle: dict[str, Path]):
    llama = _doctor(bundle, "driver")
    assert "CUDA" not in llama["backends_loaded"] and llama["devices"] == ["CPU"]
    assert "the CUDA backend is missing NVIDIA's libcublas.so.13" in llama["gpu_note"], llama["gpu_note"]
