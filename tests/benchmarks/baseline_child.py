"""The bare-cost baselines that startup.py runs next to Fireside, one per child process.

`python -m tests.benchmarks.baseline_child window`: import PySide6 and show an empty QMainWindow
of Fireside's default size, reporting through the same first-paint probe Fireside uses, so the
ratio isolates what Fireside adds on top of Python + Qt.
`python -m tests.benchmarks.baseline_child llama MODEL N_CTX`: load MODEL with plain
llama-cpp-python (`Llama(model_path, n_ctx, …)` with Fireside's context settings), the least any
app built on it could do, and report "ready" with the same resident-memory fields as the app.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def window() -> int:
    from PySide6.QtWidgets import QApplication, QMainWindow

    from fireside.ui.shell import startup_probe

    app = QApplication(sys.argv[:1])
    win = QMainWindow()
    win.resize(960, 680)  # MainWindow.DEFAULT_SIZE
    startup_probe.install(win)
    win.show()
    return app.exec()


def llama(model: str, n_ctx: int) -> int:
    import llama_cpp

    from fireside.core.engine.devices import load_backends
    from fireside.core.engine.protocol import LoadConfig
    from fireside.core.procmem import mapped_rss_bytes, rss_bytes

    load_backends()  # llama-cpp-python does not load a GGML_BACKEND_DL build's modules itself
    same = LoadConfig()  # the context settings Fireside loads with, so the KV cache is the same size
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=min(same.n_batch, n_ctx),
                          flash_attn=same.flash_attn, swa_full=same.swa_full, verbose=False)
    line = {"probe": "ready", "monotonic": time.monotonic(), "rss_bytes": rss_bytes(),
            "model_rss_bytes": mapped_rss_bytes(model), "n_ctx": llm.n_ctx()}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "window"
    sys.exit(window() if kind == "window" else llama(sys.argv[2], int(sys.argv[3])))
