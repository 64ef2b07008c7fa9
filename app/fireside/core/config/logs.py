"""Logging: everything into a rotating file in the user's log dir, only errors to the terminal.

llama.cpp talks a lot while loading; that belongs in the log file a user can attach to a bug
report, not on the screen of someone running `fireside chat`.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

from fireside.core.config.paths import Paths

LOG_FILE = "fireside.log"
_NAME_PREFIX = "fireside."  # our handlers' names: set up once per process


def setup_logging(paths: Paths, *, console_level: int = logging.ERROR) -> None:
    root = logging.getLogger()
    if any((h.get_name() or "").startswith(_NAME_PREFIX) for h in root.handlers):
        return
    root.setLevel(logging.DEBUG)
    try:
        paths.logs.mkdir(parents=True, exist_ok=True)
        file_handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.logs / LOG_FILE, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        file_handler.set_name(_NAME_PREFIX + "file")
        root.addHandler(file_handler)
    except OSError:
        pass  # a read-only home must not stop the app
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("fireside: %(message)s"))
    console.set_name(_NAME_PREFIX + "console")
    root.addHandler(console)
