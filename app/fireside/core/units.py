"""Sizes the way people read them (decimal units, as file managers and download pages show)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """12.1 GB, 253.1 MB, 437.9 KB, 512 bytes."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
