"""Load a model file once in a throwaway child process before the app loads it.

gguf_info / gguf_checks refuse what we know llama.cpp asserts on, in Python. Whatever else
llama.cpp would abort on (a GGML_ASSERT we did not mirror, a crash in a loader) must kill a child,
not the window: a file Fireside has not opened before is first loaded by a child Python that calls
llama.cpp's C API with `no_alloc` (hyperparameters, vocabulary and every tensor's shape are
checked, no weight is read or allocated). The verdict is cached by path, size and modification time
(and llama-cpp-python's version) in the user cache folder, so a known file costs one stat and one
small JSON read. The child's stderr becomes one sentence a person can act on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fireside.core.models.gguf_info import GGUFError

log = logging.getLogger(__name__)
_LLAMA_VERSION: list[str] = []

CHECK_VERSION = 1  # bump when the child's checks change, to re-check every file
TIMEOUT_S = 180.0  # the 20b shape takes about a second; a child still going after this is stuck
CACHE_FILE = "load-checks.json"
CACHE_MAX = 500  # remembered verdicts; the oldest are dropped
FROZEN_FLAG = "--fireside-load-check"  # the frozen bundle's entry script runs child_main on this
_OK_MARK = "fireside-load-check: ok"
_START_MARK = "fireside-load-check: start"
_STDERR_TAIL = 64 * 1024


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # one sentence when not ok
    cached: bool
    seconds: float


def default_cache_dir() -> Path:
    from fireside.core.config.paths import user_cache_dir

    return user_cache_dir()


def check_loads(path: str | Path, cache_dir: Path | None = None, *, timeout: float = TIMEOUT_S) -> Verdict:
    """Raise GGUFError if llama.cpp refuses or dies on the file; return how the verdict was reached."""
    t0 = time.perf_counter()
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as e:
        raise GGUFError(f"Could not read {p.name}: {e.strerror or e}.") from None
    key = _key(p, st.st_size, st.st_mtime_ns)
    cache = (cache_dir or default_cache_dir()) / CACHE_FILE
    known = _read_cache(cache).get(key)
    if isinstance(known, dict) and isinstance(known.get("ok"), bool):
        verdict = Verdict(known["ok"], str(known.get("reason", "")), True, time.perf_counter() - t0)
    else:
        ok, reason, definite = _run_child(p, timeout)
        verdict = Verdict(ok, reason, False, time.perf_counter() - t0)
        if definite:
            _remember(cache, key, ok, reason)
        log.info("load check of %s: %s in %.2f s", p, "ok" if ok else reason, verdict.seconds)
    if not verdict.ok:
        raise GGUFError(verdict.reason)
    return verdict


def _key(p: Path, size: int, mtime_ns: int) -> str:
    if not _LLAMA_VERSION:  # looked up once per process (10 ms)
        try:
            from importlib.metadata import version

            _LLAMA_VERSION.append(version("llama_cpp_python"))
        except Exception:  # an unusual install: the key still changes with the file
            _LLAMA_VERSION.append("?")
    return f"{p}|{size}|{mtime_ns}|{_LLAMA_VERSION[0]}|{CHECK_VERSION}"


def _read_cache(cache: Path) -> dict[str, object]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}  # missing or damaged: every file is simply checked again
    return data if isinstance(data, dict) else {}


def _remember(cache: Path, key: str, ok: bool, reason: str) -> None:
    data = _read_cache(cache)
    data.pop(key, None)
    data[key] = {"ok": ok, "reason": reason}
    while len(data) > CACHE_MAX:
        data.pop(next(iter(data)))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".load-checks-", suffix=".part", dir=cache.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, cache)
    except OSError as e:  # a read-only cache only costs a check next time
        log.warning("could not save the load check verdict to %s: %s", cache, e)


def child_command(path: Path) -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_FLAG, str(path)]
    return [sys.executable, "-I", "-c", _CHILD_SOURCE, str(path)]


def _run_child(p: Path, timeout: float) -> tuple[bool, str, bool]:
    """(ok, reason, definite): a verdict that is not definite (the check could not run) is not cached."""
    env = dict(os.environ, GGML_NO_BACKTRACE="1")  # no gdb attach on an abort: just die
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                child_command(p),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return (
                False,
                (
                    f"llama.cpp was still reading {p.name} after {timeout:.0f} seconds; the file "
                    "is probably damaged. Download it again."
                ),
                False,
            )
        except OSError as e:
            log.warning("could not start the load check for %s: %s", p, e)
            return True, "", False
        err.seek(0, os.SEEK_END)
        err.seek(max(0, err.tell() - _STDERR_TAIL))
        stderr = err.read().decode("utf-8", "replace")
    out = proc.stdout.decode("utf-8", "replace")
    if _OK_MARK in out and proc.returncode == 0:
        return True, "", True
    if _START_MARK not in out:
        # the child never reached llama.cpp (llama_cpp would not import): not the file's fault
        log.warning("the load check could not run (exit %s): %s", proc.returncode, stderr[-2000:])
        return True, "", False
    return False, explain(p.name, stderr, proc.returncode), True


_PATTERNS = (
    re.compile(r"GGML_ASSERT\((?P<what>.*)\) failed"),
    re.compile(r"gguf_\w+: (?P<what>.+)"),
    re.compile(r"error loading model: (?P<what>.+)"),
    re.compile(r"(?P<what>GGML_ABORT.*|terminate called.*|what\(\): .+)"),
)
# the lines that only say that something above failed
_GENERIC = re.compile(
    r"failed to (load model|read (tensor info|tensor data|key-value pairs|header)|create tensors)"
)


def explain(name: str, stderr: str, returncode: int) -> str:
    """The child's last words, as one sentence."""
    detail = ""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not _GENERIC.search(ln)]
    for pattern in _PATTERNS:
        for line in reversed(lines):
            if m := pattern.search(line):
                detail = re.sub(r"\s+", " ", m.group("what")).strip().rstrip(".")
                break
        if detail:
            break
    if len(detail) > 200:
        detail = detail[:197] + "..."
    if returncode < 0 or returncode in (134, 139):
        how = f"llama.cpp crashed while reading {name}"
    else:
        how = f"llama.cpp cannot load {name}"
    said = f" ({detail})" if detail else ""
    return f"{how}{said}: the file is damaged or made for another llama.cpp version. Download it again."


def child_main(argv: list[str]) -> int:
    """The child: load with no_alloc through the C API, print the mark, exit. Also run by the bundle."""
    ns: dict[str, object] = {"__name__": "__fireside_load_check__"}
    sys.argv = ["load_check", *argv]
    exec(compile(_CHILD_SOURCE, "<load_check>", "exec"), ns)
    main = ns["main"]
    assert callable(main)
    result = main()
    return int(result) if isinstance(result, int) else 0


# Runs with `python -I -c` (no user site, no fireside import needed): only llama_cpp.
_CHILD_SOURCE = r"""
import ctypes, os, sys

def cpu_backend(llama_cpp):
    # True once ggml has a CPU device. A build with its backends as loadable modules
    # (GGML_BACKEND_DL, core/engine/devices.py) has none until its CPU module is loaded from
    # llama_cpp/lib; only that one is loaded here (a GPU backend's start-up is not the file's).
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    # the soname first: the very libggml that libllama linked (another copy is another registry)
    names = ["libggml.so.0"] if sys.platform.startswith("linux") else []
    names += [os.path.join(libdir, n) for n in ("libggml.so", "libggml.dylib", "ggml.dll")]
    for name in names:
        try:
            ggml = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return True  # no separate libggml to ask: the backends are linked in
    ggml.ggml_backend_dev_by_type.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    if ggml.ggml_backend_dev_by_type(0):  # GGML_BACKEND_DEVICE_TYPE_CPU
        return True
    path = best_cpu_module(libdir)
    if path:
        ggml.ggml_backend_load(path.encode())
    return bool(ggml.ggml_backend_dev_by_type(0))

def best_cpu_module(libdir):
    # The CPU module ggml's own loader would pick. A GGML_CPU_ALL_VARIANTS build ships one per
    # instruction-set level (libggml-cpu-haswell.so, -skylakex...): each says how well it fits this
    # processor (ggml_backend_score, 0 = cannot run here) and the highest wins. A single build
    # has libggml-cpu.so. None when there is neither.
    best, best_score = None, 0
    for name in sorted(os.listdir(libdir)):
        if not (name.startswith(("libggml-cpu-", "ggml-cpu-")) and name.endswith((".so", ".dll"))):
            continue
        path = os.path.join(libdir, name)
        try:
            score = ctypes.CDLL(path).ggml_backend_score
        except (OSError, AttributeError):
            continue
        score.restype, score.argtypes = ctypes.c_int, []
        value = score()
        if value > best_score:
            best, best_score = path, value
    if best:
        return best
    for name in ("libggml-cpu.so", "ggml-cpu.dll"):
        if os.path.exists(os.path.join(libdir, name)):
            return os.path.join(libdir, name)
    return None

def main():
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _log(level, text, user_data):
        if level >= 3 or level == 5:  # warnings, errors and their continuations, unbuffered
            try:
                os.write(2, text)
            except OSError:
                pass

    llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
    if not cpu_backend(llama_cpp):
        sys.stderr.write("fireside-load-check: llama.cpp's CPU backend could not be loaded\n")
        return 5  # before the start mark: the check could not run, which says nothing of the file
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    no_devices = (ctypes.c_void_p * 1)(None)  # CPU only: a GPU backend's start-up is not the file's
    params.devices = ctypes.addressof(no_devices)
    params.no_alloc = True  # llama.cpp's memory-fit pass: no mmap, no weights read
    params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
    params.use_extra_bufts = False
    sys.stdout.write("fireside-load-check: start\n")
    sys.stdout.flush()
    model = llama_cpp.llama_model_load_from_file(sys.argv[1].encode("utf-8"), params)
    if not model:
        return 3
    # a context too, still without memory: llama.cpp builds (and shape-checks) the model's graph
    cparams = llama_cpp.llama_context_default_params()
    n_train = llama_cpp.llama_model_n_ctx_train(model)
    cparams.n_ctx = min(512, n_train) if n_train > 0 else 512
    cparams.n_batch = cparams.n_ubatch = cparams.n_ctx
    cparams.n_seq_max = 1
    cparams.n_threads = cparams.n_threads_batch = 1
    cparams.no_perf = True
    cparams.swa_full = False  # as the engine loads it
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        return 4
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    sys.stdout.write("fireside-load-check: ok\n")
    sys.stdout.flush()
    return 0

if __name__ in ("__main__", "__fireside_load_check__"):
    if __name__ == "__main__":
        sys.exit(main())
"""
