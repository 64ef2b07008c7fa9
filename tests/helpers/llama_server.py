"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) on 127.0.0.1.

A real peer for the remote engine: it answers Chat Completions, lists its model, and has no
/v1/responses (404), so the engine's fallback runs for real. Started with the same wheel the app
uses; ready when uvicorn says it is running (read from its output, no polling).
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.server_process import ready_server

ALIAS = "gemma-270m"
# llama-cpp-python never loads ggml's backend modules (our GGML_BACKEND_DL build, scripts/install.sh,
# has no device until they are loaded): load them as Fireside does, then run the server module as
# `python -m llama_cpp.server` would.
_LAUNCH = ("from fireside.core.engine.devices import load_backends; load_backends(); import runpy; "
           "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)")
KEY = "sk-peer-test"
_READY = re.compile(r"Uvicorn running on")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(model: Path, *, alias: str = ALIAS, api_key: str = KEY, n_ctx: int = 1024,
                 n_threads: int = 2) -> Iterator[str]:
    """Yield the server's base URL (…/v1) once it accepts requests."""
    port = _free_port()
    cmd = [sys.executable, "-c", _LAUNCH, "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
           "--n_threads_batch", str(n_threads), "--verbose", "False",
           "--chat_format", "gemma", "--model_alias", alias, "--api_key", api_key]
    with ready_server(cmd, _READY, "llama_cpp.server"):
        yield f"http://127.0.0.1:{port}/v1"
