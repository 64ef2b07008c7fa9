"""The python tool's child process: confine itself, then run cells like a Jupyter kernel.

Started by `python_sandbox.PythonSandbox` as `python -I -c BOOT APP_ROOT CONFIG_JSON`, with its
stdout and stderr on one pipe (the cell's output, read by the parent as it comes) and two more
pipes for the protocol: the parent sends {"code", "cell"}; the child answers {"result", "error"}
(the repr of the last expression, the traceback), each message a 4-byte length and JSON.
Standard library only, and nothing imported that the model's code could not import itself.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import io
import json
import linecache
import os
import signal
import struct
import sys
import traceback
from types import FrameType

from fireside.core.tools.isolation import confine

BOOT = ("import sys;sys.path.insert(0,sys.argv[1]);"
        "from fireside.core.tools.sandbox_child import main;del sys.path[0];main(sys.argv[2])")
# A frozen build (PyInstaller) has no `python -c`: its sys.executable is Fireside itself, started
# as `fireside --python-sandbox-child CONFIG`; its entry point calls run_if_child() first thing.
CHILD_FLAG = "--python-sandbox-child"


def run_if_child(argv: list[str]) -> bool:
    """For a frozen entry point: when started as the sandbox's child, be it (returns when done)."""
    if len(argv) == 3 and argv[1] == CHILD_FLAG:
        main(argv[2])
        return True
    return False
_RESULT_CAP = 16 * 1024  # a repr or traceback longer than this is cut in the child already


class CPUTimeLimitExceeded(BaseException):  # the name the model reads in its traceback
    """Raised into the cell when its CPU time runs out (SIGXCPU); BaseException so `except
    Exception` in the model's code does not swallow it."""


def read_message(stream: io.RawIOBase | io.BufferedIOBase) -> dict[str, object] | None:
    head = _read_exact(stream, 4)
    if head is None:
        return None
    body = _read_exact(stream, struct.unpack(">I", head)[0])
    if body is None:
        return None
    data = json.loads(body.decode("utf-8"))
    return data if isinstance(data, dict) else None


def _read_exact(stream: io.RawIOBase | io.BufferedIOBase, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def encode_message(data: dict[str, object]) -> bytes:
    body = json.dumps(data).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def _cut(text: str, keep_end: bool = False) -> str:
    if len(text) <= _RESULT_CAP:
        return text
    note = f"\n[… {len(text) - _RESULT_CAP:,} characters cut …]\n"
    return note + text[-_RESULT_CAP:] if keep_end else text[:_RESULT_CAP] + note


class Kernel:
    """A persistent namespace and the Jupyter rule: the last expression's value is shown."""

    def __init__(self, cpu_time_s: float) -> None:
        self.namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
        self.cpu_time_s = cpu_time_s

    def _arm_cpu_limit(self) -> None:
        try:
            import resource
        except ImportError:
            return
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime + self.cpu_time_s) + 1
        _old, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def run_cell(self, code: str, cell: int) -> dict[str, object]:
        filename = f"<cell {cell}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename, "exec")
        except (SyntaxError, ValueError) as exc:
            return {"result": None, "error": "".join(traceback.format_exception_only(type(exc), exc))}
        last = None
        tail = tree.body[-1] if tree.body else None
        if isinstance(tail, ast.Expr):
            tree.body.pop()
            last = ast.Expression(tail.value)
        self._arm_cpu_limit()
        try:
            exec(compile(tree, filename, "exec"), self.namespace)
            value = eval(compile(last, filename, "eval"), self.namespace) if last else None
        except BaseException as exc:  # the model's own error, shown to it like Jupyter would
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None
            return {"result": None, "error": _cut("".join(traceback.format_exception(type(exc), exc, tb)),
                                                  keep_end=True)}
        if value is None:
            return {"result": None, "error": None}
        self.namespace["_"] = value
        try:
            return {"result": _cut(repr(value)), "error": None}
        except BaseException as exc:  # a broken __repr__ is the model's error too
            return {"result": None, "error": f"repr() of the result failed: {type(exc).__name__}: {exc}"}


def _on_sigxcpu(_signum: int, _frame: FrameType | None) -> None:
    raise CPUTimeLimitExceeded("the call used up its CPU time limit")


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)  # printf from C extensions into the pipe
    except (OSError, AttributeError):
        pass


def main(config_json: str) -> None:
    cfg = json.loads(config_json)
    sys.dont_write_bytecode = True
    commands = os.fdopen(int(cfg["cmd_fd"]), "rb", buffering=0)
    replies = os.fdopen(int(cfg["res_fd"]), "wb", buffering=0)
    os.set_inheritable(commands.fileno(), False)
    os.set_inheritable(replies.fileno(), False)
    try:
        report = confine(str(cfg["work_dir"]), list(cfg["read_paths"]), list(cfg["layers"]),
                         int(cfg["memory_bytes"]), int(cfg["file_size_bytes"]))
    except Exception as exc:  # report it; the parent refuses to run code unconfined
        replies.write(encode_message({"ready": False, "problem": f"{type(exc).__name__}: {exc}"}))
        return
    out = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                           errors="backslashreplace", write_through=True)
    err = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                           errors="backslashreplace", write_through=True)
    sys.stdout, sys.stderr = out, err
    sys.argv = [""]
    # Stop (interrupt) is SIGINT -> KeyboardInterrupt. Python installs that handler only when the
    # parent did not ignore SIGINT, and a Fireside started in the background (`cmd &` in a script,
    # some launchers) hands its children SIGINT ignored: install it ourselves.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, _on_sigxcpu)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file write raises OSError instead
    kernel = Kernel(float(cfg["cpu_time_s"]))
    me = os.getpid()
    replies.write(encode_message({"ready": True, "isolation": report.as_json(), "pid": os.getpid()}))
    while True:
        msg = read_message(commands)
        if msg is None:
            return  # the parent closed the pipe: shut down
        cell = int(str(msg.get("cell", 0)))
        reply = kernel.run_cell(str(msg.get("code", "")), cell)
        if os.getpid() != me:
            os._exit(0)  # a fork of the REPL (os.fork() in the cell) must not answer too
        reply["cell"] = cell
        for stream in (sys.stdout, sys.stderr, out, err):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        _flush_c_stdio()
        replies.write(encode_message(reply))
