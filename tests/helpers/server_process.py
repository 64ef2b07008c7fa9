"""A server subprocess on 127.0.0.1 that is ready when its log says so: the one way the tests'
peers (llama_cpp.server, llama.cpp's llama-server) are started and stopped.

Ready is read from the server's own output, never polled; a server that stops, or hangs before
it says it is ready, fails with the end of its log. After that its log is drained on a thread, so
a long run never blocks the server on a full pipe; on leaving, it is terminated (killed after
10 s) and the pipe closed.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _drain(stream: IO[str]) -> None:
    for _ in stream:
        pass


@contextmanager
def ready_server(cmd: list[str], ready: re.Pattern[str], what: str, *, cwd: Path | None = None,
                 start_timeout: float = 180.0) -> Iterator[re.Match[str]]:
    """Run `cmd` (stdout and stderr merged) and yield the match of `ready` in the first log line
    that has it. `what` names the server in the error."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=cwd, errors="replace")
    watchdog = threading.Timer(start_timeout, proc.kill)  # a hang ends the loop below
    watchdog.start()
    assert proc.stdout is not None
    out = proc.stdout
    drain = threading.Thread(target=_drain, args=(out,), daemon=True)
    try:
        seen: list[str] = []
        found = None
        for line in out:  # ends when the process does
            seen.append(line)
            found = ready.search(line)
            if found:
                break
        watchdog.cancel()
        if found is None:
            raise RuntimeError(f"{what} did not start ({' '.join(cmd)}):\n" + "".join(seen[-20:]))
        drain.start()
        yield found
    finally:
        watchdog.cancel()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain.is_alive():
            drain.join(10)  # the pipe ends with the process
        out.close()
