"""Route llama.cpp's log lines into Python logging instead of the terminal.

llama-cpp-python's default callback prints every line to stderr, which would spam the user's
terminal on each load; we keep them in the log file at DEBUG and surface warnings and errors.
"""

from __future__ import annotations

import ctypes
import logging

import llama_cpp

log = logging.getLogger("fireside.llama")
# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the last line)
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING,
           4: logging.ERROR}
_last_level = [logging.DEBUG]
_partial: list[str] = []


def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    try:
        line = text.decode("utf-8", "replace")
        if level != 5:
            _last_level[0] = _LEVELS.get(level, logging.DEBUG)
        _partial.append(line)
        if line.endswith("\n"):
            message = "".join(_partial).rstrip()
            _partial.clear()
            if message:
                log.log(_last_level[0], "%s", message)
    except Exception:  # never let a log line unwind into C
        pass


_callback = llama_cpp.llama_log_callback(_on_log)  # kept referenced: C calls it for as long as it is set


def install_log_handler() -> None:
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
