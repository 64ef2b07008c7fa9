"""`fireside doctor` with another folder in place of llama_cpp/lib (argv[1]), in its own process.

ggml's backend registry is global to a process, so a folder holding a CUDA module (real, or the
stand-in test_backend_modules.py compiles) is loaded here, never in the test process:
    python -m tests.core.engine.backend_dir_child LIBDIR doctor --json
"""

from __future__ import annotations

import sys

from fireside.core.engine import devices


def main() -> int:
    libdir = sys.argv[1]
    devices.lib_dir = lambda: libdir  # where the bundle's modules are; everything else is real
    from fireside.cli import main as cli

    return cli(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
