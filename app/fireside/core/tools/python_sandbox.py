"""The built-in python tool: one confined, long-lived Python process per conversation.

    sandbox = PythonSandbox(work_dir)          # e.g. DATA/python/<conversation id>
    outcome = sandbox.run("x = 2\\nx * 21")     # ToolOutcome(output="42", error=False, duration_s=…)
    sandbox.restart(); sandbox.close()

Variables survive between calls (the model was trained on a stateful Jupyter environment). A call
that runs past its time limit, or a process that crashes, is killed and restarted, and the call
(and the next one) say that earlier variables are gone. Output for the model is capped and says
where it was cut. Standard library only, so an unprivileged user's plain python3 can run it.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fireside.core.tools.isolation import LAYERS, IsolationReport, isolation_report
from fireside.core.tools.limits import DEFAULT_LIMITS, SandboxLimits
from fireside.core.tools.process_tree import kill_group, kill_tree
from fireside.core.tools.sandbox_child import BOOT, CHILD_FLAG, encode_message

APP_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding the `fireside` package
_MAX_REPLY_BYTES = 4 * 1024 * 1024
_FLOOD_FACTOR = 256  # a cell printing this many times the output cap is interrupted (state kept)
_START_TIMEOUT_S = 30.0


class SandboxUnavailable(RuntimeError):
    """The python tool cannot run here (no isolation and not allowed to run without it, or no OS
    support); the message says why, for a person."""


@dataclass(frozen=True)
class ToolOutcome:
    output: str  # what the model reads back, already capped
    error: bool = False  # an exception, a time-out, a crash: `output` says which, in words
    duration_s: float = 0.0
    restarted: bool = False  # the session's earlier state is gone (this call timed out or crashed)
    truncated: bool = False


class _Output:
    """The cell's stdout+stderr: the first `cap` bytes kept, the rest only counted."""

    def __init__(self, cap: int) -> None:
        self.cap, self.head, self.total = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]

    @property
    def cut(self) -> bool:
        return self.total > len(self.head)

    def text(self) -> str:
        text = self.head.decode("utf-8", "replace")
        if self.cut:
            text += (f"\n[output cut: {self.total:,} bytes in all, only the first {len(self.head):,} "
                     "are shown]")
        return text


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped responding"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL":
            return "was killed (SIGKILL; it may have run out of memory)"
        if name == "SIGXCPU":
            return "used up its CPU time limit"
        return f"crashed ({name})"
    return f"exited with code {returncode}"


class PythonSandbox:
    """One conversation's python session. Thread-safe: calls run one at a time."""

    def __init__(self, work_dir: str | os.PathLike[str], limits: SandboxLimits = DEFAULT_LIMITS, *,
                 python: str | None = None, layers: tuple[str, ...] = LAYERS,
                 require_isolation: bool = True) -> None:
        if os.name != "posix":
            raise SandboxUnavailable("The python tool runs only on Linux and macOS for now.")
        if require_isolation and not isolation_report().enforced:
            raise SandboxUnavailable("The python tool is off: " + "; ".join(isolation_report().problems))
        self.work_dir = Path(work_dir)
        self.limits = limits
        self.python = python or sys.executable
        self.layers = layers
        self.require_isolation = require_isolation
        self.isolation: IsolationReport | None = None  # what the running child reported
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._cmd_w = self._res_r = self._out_r = -1
        self._cell = 0
        self._lost = ""  # why the last session's state was lost, told to the next call
        self.last_failure = ""  # why _read_reply gave up: "timeout", "exited" or "garbled"
        self._aborted = ""  # set by restart() or close() from another thread while a call runs

    # ---- life cycle --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process now (a warm first call); run() does it when needed."""
        with self._lock:
            self._ensure_started()

    def restart(self) -> None:
        """Throw the session away on request (also one stuck in a call); the next call starts fresh."""
        self._abort("restarted on request")
        with self._lock:
            self._stop()
            self._lost = ""
            self._aborted = ""

    def interrupt(self) -> None:
        """Stop the running cell with KeyboardInterrupt, keeping the session (a UI's Stop button)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)

    def close(self) -> None:
        """End the process now, even in the middle of a call (which then reports it was closed)."""
        self._abort("closed")
        with self._lock:
            self._stop()
            self._aborted = ""

    def _abort(self, why: str) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._aborted = why
            kill_tree(proc.pid)

    def __enter__(self) -> PythonSandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _child_env(self) -> dict[str, str]:
        # Nothing of the parent's environment (API keys, tokens) reaches the model's code.
        tmp = self.work_dir / ".tmp"
        tmp.mkdir(exist_ok=True)
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.work_dir), "TMPDIR": str(tmp),
                "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg",
                "TERM": "dumb"}

    def _command(self, config: str) -> list[str]:
        if self.python == sys.executable and getattr(sys, "frozen", False):
            return [self.python, CHILD_FLAG, config]  # see sandbox_child.run_if_child
        return [self.python, "-I", "-c", BOOT, APP_ROOT, config]

    def _ensure_started(self) -> None:
        if self.running:
            return
        self._stop()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        config = {"cmd_fd": cmd_r, "res_fd": res_w, "work_dir": str(self.work_dir.resolve()),
                  "read_paths": [APP_ROOT], "layers": list(self.layers),
                  "memory_bytes": self.limits.memory_bytes, "file_size_bytes": self.limits.file_size_bytes,
                  "cpu_time_s": self.limits.cpu_time_s}
        try:
            self._proc = subprocess.Popen(
                self._command(json.dumps(config)),
                stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(cmd_r, res_w),
                cwd=self.work_dir, env=self._child_env(), start_new_session=True)
        except OSError as e:
            for fd in (cmd_r, cmd_w, res_r, res_w, out_r, out_w):
                os.close(fd)
            raise SandboxUnavailable(f"The python tool could not start {self.python}: {e.strerror}") from e
        for fd in (cmd_r, res_w, out_w):
            os.close(fd)
        self._cmd_w, self._res_r, self._out_r = cmd_w, res_r, out_r
        os.set_blocking(out_r, False)
        startup = _Output(64 * 1024)
        ready = self._read_reply(time.monotonic() + _START_TIMEOUT_S, startup, None)
        if ready is None or ready.get("ready") is not True:
            code = self._proc.poll()
            self._stop()
            why = str(ready.get("problem")) if ready else f"it {_describe_exit(code)}"
            raise SandboxUnavailable(f"The python tool could not start: {why}. {startup.text()}".strip())
        iso = ready.get("isolation")
        self.isolation = IsolationReport.from_json(iso if isinstance(iso, dict) else {})
        if self.require_isolation and not self.isolation.enforced:
            self._stop()
            raise SandboxUnavailable("The python tool is off: the sandbox could not be confined ("
                                     + "; ".join(self.isolation.problems) + ").")

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                kill_tree(self._proc.pid)
            else:  # reaped: its pid may be someone else's now, but not while its group lives on
                kill_group(self._proc.pid)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        for fd in (self._cmd_w, self._res_r, self._out_r):
            if fd >= 0:
                os.close(fd)
        self._cmd_w = self._res_r = self._out_r = -1

    # ---- one call ----------------------------------------------------------------------------
    def _read_reply(self, deadline: float, output: _Output, cell: int | None) -> dict[str, object] | None:
        """Collect output until the reply to `cell` arrives; None on a dead child or at the deadline.
        Replies to other cells (a process the code forked, old news) are dropped."""
        self.last_failure = "timeout"
        buf = bytearray()
        flood, flooded = max(16 * 1024 * 1024, _FLOOD_FACTOR * output.cap), False
        with selectors.DefaultSelector() as sel:
            sel.register(self._res_r, selectors.EVENT_READ, "res")
            sel.register(self._out_r, selectors.EVENT_READ, "out")
            while True:
                if len(buf) >= 4:
                    size = int.from_bytes(buf[:4], "big")
                    if size > _MAX_REPLY_BYTES:
                        self.last_failure = "garbled"
                        return None
                    if len(buf) >= 4 + size:
                        try:
                            reply = json.loads(bytes(buf[4:4 + size]).decode("utf-8"))
                        except ValueError:
                            self.last_failure = "garbled"
                            return None
                        del buf[:4 + size]
                        if isinstance(reply, dict) and (cell is None or reply.get("cell") == cell):
                            self._drain(output)
                            return reply
                        continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                for key, _ in sel.select(timeout=min(left, 1.0)):
                    chunk = os.read(key.fd, 65536)
                    if key.data == "out":
                        if chunk:
                            output.add(chunk)
                            if cell is not None and output.total > flood and not flooded:
                                flooded = True  # printing forever: stop the cell, keep the session
                                self.interrupt()
                        else:
                            sel.unregister(self._out_r)
                    elif chunk:
                        buf += chunk
                    else:
                        self.last_failure = "exited"  # the reply pipe closed: the process is gone
                        return None

    def _drain(self, output: _Output) -> None:
        # Everything the cell printed was written before its reply: it is in the pipe already.
        while True:
            try:
                chunk = os.read(self._out_r, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            output.add(chunk)

    def run(self, code: str, timeout: float | None = None) -> ToolOutcome:
        """Run one cell. Never raises: an exception in the code, a time-out, a crash or a process
        that cannot start is an outcome with error=True whose output says what happened."""
        wall = self.limits.wall_time_s if timeout is None else max(0.1, min(timeout, 24 * 3600.0))
        with self._lock:
            started = time.monotonic()
            note = ""
            if self._lost:
                note = (f"[The python session was restarted: {self._lost}. Variables and imports from "
                        "earlier calls are gone; files in the work folder remain.]\n")
                self._lost = ""
            try:
                self._ensure_started()
            except SandboxUnavailable as e:
                return ToolOutcome(note + str(e), error=True, duration_s=time.monotonic() - started)
            self._drain(_Output(0))  # what a background process printed between calls
            self._cell += 1
            output = _Output(self.limits.output_bytes)
            try:
                message = memoryview(encode_message({"code": code, "cell": self._cell}))
                while message:
                    message = message[os.write(self._cmd_w, message):]
                reply = self._read_reply(started + wall, output, self._cell)
            except OSError:
                reply = None
            duration = time.monotonic() - started
            if reply is not None:
                parts = [output.text()] if output.total else []
                for key in ("result", "error"):
                    if isinstance(reply.get(key), str):
                        parts.append(str(reply[key]))
                text = note + ("\n".join(p.rstrip("\n") for p in parts) if parts else "(no output)")
                return ToolOutcome(self._cap(text), error=reply.get("error") is not None,
                                   duration_s=duration, truncated=output.cut)
            if self._aborted:
                why = f"the python session was {self._aborted} during the call"
            elif self.last_failure == "timeout":
                why = f"the call ran past its {wall:g} s time limit and was stopped"
            elif self.last_failure == "garbled":
                why = "the python process sent back something unreadable and was stopped"
            else:
                why = f"the python process {_describe_exit(self._wait_exit())}"
            self._stop()
            self._lost = "" if self._aborted else f"the previous call failed ({why})"
            self._aborted = ""
            text = (output.text().rstrip("\n") + "\n" if output.total else "") + (
                f"[{why[0].upper()}{why[1:]}. The python session was restarted, so variables from earlier "
                "calls are gone; files in the work folder remain.]")
            return ToolOutcome(self._cap(note + text), error=True, duration_s=duration, restarted=True,
                               truncated=output.cut)

    def _wait_exit(self) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def _cap(self, text: str) -> str:
        # The output is capped already; this bounds the repr and traceback added to it.
        limit = self.limits.output_bytes + 16 * 1024
        if len(text) <= limit:
            return text
        return text[:limit] + f"\n[output cut: {len(text):,} characters in all]"

