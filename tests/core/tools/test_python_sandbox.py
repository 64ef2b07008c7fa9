"""The python tool's session: Jupyter-like state, limits, crashes and restarts (real child processes)."""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fireside.core.tools.limits import SandboxLimits
from fireside.core.tools.python_sandbox import PythonSandbox


def test_runs_code_and_shows_the_last_expression_like_jupyter(sandbox: PythonSandbox) -> None:
    out = sandbox.run("print('hello')\nimport sys\nprint('warn', file=sys.stderr)\n6 * 7")
    assert not out.error
    assert out.output == "hello\nwarn\n42"
    assert sandbox.run("x = 1").output == "(no output)"
    assert sandbox.run("None").output == "(no output)"


def test_an_exception_is_an_error_with_its_traceback_and_the_session_survives(sandbox: PythonSandbox) -> None:
    sandbox.run("kept = 'still here'")
    out = sandbox.run("print('before')\n1 / 0")
    assert out.error and not out.restarted
    assert out.output.startswith("before\n")
    assert '<cell 2>", line 2' in out.output
    assert out.output.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "sandbox_child" not in out.output  # the REPL's own frames are not shown to the model
    syntax = sandbox.run("def f(:")
    assert syntax.error and "SyntaxError" in syntax.output
    exited = sandbox.run("import sys; sys.exit(3)")
    assert exited.error and "SystemExit: 3" in exited.output
    assert sandbox.run("kept").output == "'still here'"


def test_state_persists_within_a_sandbox_and_not_across_sandboxes(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "a") as a, PythonSandbox(tmp_path / "b") as b:
        assert not a.run("secret = 41\nimport json").error
        assert a.run("secret + 1; json.dumps(secret + 1)").output == "'42'"
        other = b.run("secret")
        assert other.error and "NameError: name 'secret' is not defined" in other.output
        assert a.run("print(secret)").output == "41"
        b.run("open('b-private.txt', 'w').write('mine')")
        peek = a.run(f"open({str(b.work_dir / 'b-private.txt')!r}).read()")
        assert peek.error and "PermissionError" in peek.output  # nor each other's files


def test_files_are_written_in_the_work_folder_and_nowhere_else(sandbox: PythonSandbox,
                                                               tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    inside = sandbox.run("import os\nopen('notes.txt', 'w').write('kept')\nos.getcwd()")
    assert not inside.error, inside.output
    assert (sandbox.work_dir / "notes.txt").read_text() == "kept"
    assert inside.output == repr(str(sandbox.work_dir.resolve()))
    for target in (outside / "escape.txt", Path("/tmp") / f"fireside-escape-{os.getpid()}.txt"):
        out = sandbox.run(f"open({str(target)!r}, 'w').write('x')")
        assert out.error and "PermissionError" in out.output, out.output
        assert not target.exists()
    for code in (f"import os; os.mkdir({str(outside / 'dir')!r})",
                 f"import shutil; shutil.copy('notes.txt', {str(outside)!r})",
                 f"import os; os.rename('notes.txt', {str(outside / 'moved.txt')!r})"):
        out = sandbox.run(code)
        assert out.error and "PermissionError" in out.output, (code, out.output)
    assert list(outside.iterdir()) == []
    assert (sandbox.work_dir / "notes.txt").exists()  # reading still works, the rename failed
    assert sandbox.run("import os; len(open(os.__file__).read()) > 0").output == "True"  # reading works


def test_the_parents_secrets_do_not_reach_the_code(sandbox: PythonSandbox) -> None:
    os.environ["FIRESIDE_TEST_SECRET"] = "hunter2"
    try:
        sandbox.restart()
        out = sandbox.run("import os; sorted(os.environ)")
        assert "FIRESIDE_TEST_SECRET" not in out.output and "HOME" in out.output
    finally:
        del os.environ["FIRESIDE_TEST_SECRET"]


def test_an_endless_loop_is_stopped_at_the_time_limit_and_the_next_call_works(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", SandboxLimits(wall_time_s=1.0)) as sb:
        sb.run("x = 1")
        started = time.monotonic()
        out = sb.run("print('spinning')\nwhile True: pass")
        took = time.monotonic() - started
        assert out.error and out.restarted
        assert 1.0 <= took < 5.0 and 1.0 <= out.duration_s < 5.0
        assert out.output.startswith("spinning\n")
        assert "ran past its 1 s time limit" in out.output
        assert "variables from earlier calls are gone" in out.output
        after = sb.run("print(x)")
        assert after.error and "restarted" in after.output and "NameError" in after.output
        assert sb.run("print(2)").output == "2"  # the note is given once
        # a per-call timeout overrides the setting
        slow = "import time; time.sleep(0.5); 'done'"  # sleep-ok: the cell's own work, timed by a limit
        assert sb.run(slow, timeout=10).output == "'done'"


def test_cpu_time_limit_stops_busy_code_and_keeps_the_session(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", SandboxLimits(wall_time_s=30, cpu_time_s=1)) as sb:
        sb.run("kept = 5")
        out = sb.run("try:\n    while True: pass\nexcept Exception:\n    print('swallowed')")
        assert out.error and not out.restarted
        assert "CPUTimeLimitExceeded" in out.output and "swallowed" not in out.output
        assert out.duration_s < 10
        assert sb.run("kept").output == "5"


def test_memory_past_the_limit_fails_in_the_child_only(tmp_path: Path) -> None:
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with PythonSandbox(tmp_path / "w", SandboxLimits(memory_bytes=256 * 2**20)) as sb:
        sb.run("kept = 'yes'")
        once = sb.run("block = bytearray(1024 * 2**20)")
        assert once.error and "MemoryError" in once.output and not once.restarted
        growing = sb.run("chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 2**20))")
        assert growing.error and "MemoryError" in growing.output
        filled = int(sb.run("len(chunks)").output)
        assert 4 <= filled < 16  # it really allocated, up to the 256 MiB cap
        assert sb.run("del chunks; kept").output == "'yes'"
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - parent_peak
    assert grown_kib < 64 * 1024  # the parent did not take any of it


def test_huge_output_is_capped_and_says_so(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", SandboxLimits(output_bytes=1024)) as sb:
        out = sb.run("for i in range(200_000):\n    print('line', i)\n'end'")
        assert out.truncated and not out.error
        assert out.output.startswith("line 0\nline 1\n")
        assert "[output cut: 2," in out.output and "only the first 1,024 are shown]" in out.output
        assert out.output.endswith("'end'")  # the result still comes through
        assert len(out.output) < 1024 + 200
        big = sb.run("'z' * 10_000_000")
        assert len(big.output) < 1024 + 16 * 1024 + 200 and "characters cut" in big.output
        assert sb.run("print(1)").output == "1"  # nothing left over in the pipe


def test_printing_forever_is_interrupted_long_before_the_time_limit(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", SandboxLimits(output_bytes=1024, wall_time_s=60)) as sb:
        sb.run("kept = 1")
        out = sb.run("while True:\n    print('x' * 1000)")
        assert out.error and out.truncated and not out.restarted
        assert "KeyboardInterrupt" in out.output and out.duration_s < 30
        assert sb.run("kept").output == "1"


def test_a_crash_is_reported_and_the_session_recovers(sandbox: PythonSandbox) -> None:
    sandbox.run("x = 1")
    out = sandbox.run("import os\nprint('bye', flush=True)\nos._exit(3)")
    assert out.error and out.restarted
    assert out.output.startswith("bye\n") and "exited with code 3" in out.output
    nxt = sandbox.run("x")
    assert nxt.error and "restarted" in nxt.output and "NameError" in nxt.output
    sandbox.run("y = 2")
    seg = sandbox.run("import ctypes\nctypes.string_at(0)")
    assert seg.error and seg.restarted and "crashed (SIGSEGV)" in seg.output
    assert "restarted" in sandbox.run("print(3)").output
    assert sandbox.run("print(4)").output == "4"


def test_restart_on_demand_drops_state_and_kills_background_processes(sandbox: PythonSandbox) -> None:
    pid = int(sandbox.run("import subprocess\np = subprocess.Popen(['sleep', '600'])\np.pid").output)
    sandbox.run("z = 1")
    sandbox.restart()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.01)  # sleep-ok: waiting for the kernel to finish a SIGKILLed process
    assert not _alive(pid)
    out = sandbox.run("z")
    assert out.error and "NameError" in out.output and "restarted" not in out.output  # asked for: no note


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_the_code_cannot_signal_fireside_or_read_other_processes(sandbox: PythonSandbox) -> None:
    denied = "import os\ntry:\n    {}\n    print('reached')\nexcept PermissionError:\n    print('denied')"
    assert sandbox.run(denied.format("os.kill(os.getppid(), 0)")).output == "denied"
    for what in ("environ", "cmdline", "maps", "mem"):  # API keys live in environments and arguments
        out = sandbox.run(denied.format(f"open(f'/proc/{{os.getppid()}}/{what}', 'rb').read()"))
        assert out.output == "denied", (what, out.output)
    assert sandbox.run(denied.format("open('/proc/1/cmdline').read()")).output == "denied"
    ok = sandbox.run("import os, subprocess\n'VmRSS' in open('/proc/self/status').read(), "
                     "'MemTotal' in open('/proc/meminfo').read(), os.cpu_count() > 0, "
                     "subprocess.run(['ls', '-a'], capture_output=True, text=True).stdout.split()[:2]")
    assert ok.output == "(True, True, True, ['.', '..'])", ok.output


def _when_file_appears(path: Path, then: Callable[[], None]) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # sleep-ok: waiting for the cell to reach its loop
        then()

    t = threading.Thread(target=watch)
    t.start()
    return t


BUSY = "kept = 1\nopen('started', 'w').close()\nwhile True:\n    pass"


def test_interrupt_stops_the_cell_and_keeps_the_session(sandbox: PythonSandbox) -> None:
    sandbox.start()
    t = _when_file_appears(sandbox.work_dir / "started", sandbox.interrupt)
    out = sandbox.run(BUSY)
    t.join()
    assert out.error and not out.restarted and "KeyboardInterrupt" in out.output
    assert sandbox.run("kept").output == "1"


def test_restart_during_a_call_ends_it_at_once(sandbox: PythonSandbox) -> None:
    sandbox.start()
    t = _when_file_appears(sandbox.work_dir / "started", sandbox.restart)
    out = sandbox.run(BUSY)
    t.join()
    assert out.error and out.restarted and "restarted on request during the call" in out.output
    assert out.duration_s < 15  # not the 20 s time limit
    fresh = sandbox.run("kept")
    assert "NameError" in fresh.output and "[The python session was restarted" not in fresh.output


def test_a_forked_copy_of_the_session_does_not_answer_for_it(sandbox: PythonSandbox) -> None:
    out = sandbox.run("import os\npid = os.fork()\nif pid == 0:\n    print('child')\nelse:\n"
                      "    os.waitpid(pid, 0)\n    print('parent')")
    assert sorted(out.output.split()) == ["child", "parent"]
    assert sandbox.run("print(1)").output == "1"
    assert sandbox.run("pid > 0").output == "True"


def test_a_hard_link_cannot_carry_writes_out_of_the_work_folder(sandbox: PythonSandbox,
                                                                tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    out = sandbox.run(f"import os\nos.link({str(victim)!r}, 'alias.txt')")
    assert out.error and ("PermissionError" in out.output or "Invalid cross-device link" in out.output)
    assert victim.read_text() == "original"


def test_a_frozen_build_starts_its_child_through_its_own_entry_point(sandbox: PythonSandbox,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from fireside.core.tools import sandbox_child

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    argv = sandbox._command('{"x": 1}')
    assert argv == [sys.executable, sandbox_child.CHILD_FLAG, '{"x": 1}']
    assert not sandbox_child.run_if_child(["fireside", "--help", "x"])


def test_interrupt_works_when_fireside_was_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A Fireside started in the background (`fireside serve &` in a script) has SIGINT ignored,
    and its children inherit that; the sandbox's Stop must still raise KeyboardInterrupt."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with PythonSandbox(tmp_path / "w", SandboxLimits(output_bytes=1024, wall_time_s=60)) as sb:
            sb.run("kept = 1")
            out = sb.run("while True:\n    print('x' * 1000)")
            assert out.error and out.truncated and not out.restarted
            assert "KeyboardInterrupt" in out.output
            assert sb.run("kept").output == "1"
    finally:
        signal.signal(signal.SIGINT, old)
