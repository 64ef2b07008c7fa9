"""llama.cpp's own `llama-server` binary on 127.0.0.1, as the API benchmark's second peer.

The binary is built from the llama.cpp source llama-cpp-python vendors, linked against the very
libllama / libggml* the app loads (tests/benchmarks/llama_bench_build.py). It is started with the
settings Fireside's engine uses (context, threads, one batch size for logical and physical batches,
flash attention, one sequence), `--port 0` (it binds a free port and logs which), a key
(`--api-key`), and no web UI. It runs from the installed lib folder, as llama-bench does: with
backend modules (GGML_BACKEND_DL) ggml looks beside the executable and in the current directory.
Ready when it logs "listening on http://…", which it does once the model is loaded and GET
/health answers 200: read from its output, no polling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.server_process import ready_server

ALIAS = "gemma-270m"
KEY = "sk-llama-server-test"
_LISTENING = re.compile(r"listening on (http://\S+)")


def server_command(binary: Path, model: Path, *, alias: str = ALIAS, api_key: str = KEY,
                   n_ctx: int = 1024, n_threads: int = 2, n_batch: int = 512,
                   flash_attn: bool = True) -> list[str]:
    """The command line: Fireside's settings, spelled as llama-server's options."""
    batch = str(min(n_batch, n_ctx))  # Fireside's engine: n_batch = n_ubatch = min(n_batch, n_ctx)
    return [str(binary), "-m", str(model.resolve()), "--host", "127.0.0.1", "--port", "0",
            "--api-key", api_key, "--alias", alias, "-c", str(n_ctx), "-t", str(n_threads),
            "-tb", str(n_threads), "-b", batch, "-ub", batch, "-fa", "on" if flash_attn else "off",
            "-np", "1", "--no-webui"]


@contextmanager
def llama_server_binary(binary: Path, model: Path, *, alias: str = ALIAS, api_key: str = KEY,
                        n_ctx: int = 1024, n_threads: int = 2, n_batch: int = 512,
                        flash_attn: bool = True, cwd: Path | None = None,
                        start_timeout: float = 180.0) -> Iterator[str]:
    """Yield the server's base URL (…/v1) once it accepts requests. `cwd`: the folder of ggml's
    backend modules (default: the installed llama_cpp/lib)."""
    if cwd is None:
        from tests.benchmarks.llama_bench_build import lib_dir

        cwd = lib_dir()
    cmd = server_command(binary, model, alias=alias, api_key=api_key, n_ctx=n_ctx,
                         n_threads=n_threads, n_batch=n_batch, flash_attn=flash_attn)
    with ready_server(cmd, _LISTENING, "llama-server", cwd=cwd,
                      start_timeout=start_timeout) as found:
        yield f"{found.group(1).rstrip('/')}/v1"
