"""This process's resident memory, from /proc: what the start-up benchmark and its probe report.

Kept free of Qt so a bare llama-cpp-python baseline can measure itself without loading Qt's
libraries (which would inflate the very number it is compared on).
"""

from __future__ import annotations

import os
from pathlib import Path


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS), 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def mapped_rss_bytes(path: str) -> int:
    """Resident bytes of every mapping of `path` (e.g. the mmapped GGUF): RSS that is that file."""
    target = os.path.realpath(path)
    total, inside = 0, False
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                first = line.split(maxsplit=1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    parts = line.split(maxsplit=5)
                    inside = len(parts) == 6 and parts[5].strip() == target
                elif inside and first == "Rss:":
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 0
    return total
