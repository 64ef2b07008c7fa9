"""Model-facing tool names and output capping.

Names are `server__tool`, reduced to [A-Za-z0-9_], starting with a letter, at most 64 characters
(harmony's `functions.NAME` and OpenAI's function names both accept that), and made unique
deterministically: the same servers and tools always give the same names.
"""

from __future__ import annotations

import hashlib
import json
import re

PYTHON = "python"
MAX_OUTPUT_CHARS = 16_000  # about 4,000 tokens: enough for a page of output, not a flooded context
MAX_NAME = 64


def cap_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return (text[:limit] + f"\n\n[Output cut: the tool returned {len(text):,} characters; only the "
            f"first {limit:,} are shown.]")


def ident(text: str) -> str:
    s = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")
    return s or "x"


def model_names(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(server, tool) -> a unique harmony-safe name; deterministic for the same set of pairs."""
    out: dict[tuple[str, str], str] = {}
    taken: set[str] = {PYTHON}
    for server, tool in pairs:
        base = f"{ident(server)}__{ident(tool)}"
        if not base[0].isalpha():
            base = "mcp_" + base
        digest = hashlib.sha256(f"{server}\x00{tool}".encode()).hexdigest()[:8]
        name = base if len(base) <= MAX_NAME else f"{base[:MAX_NAME - 9]}_{digest}"
        if name in taken:
            name = f"{base[:MAX_NAME - 9]}_{digest}"
        taken.add(name)
        out[(server, tool)] = name
    return out


def kind(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int | float):
        return "a number"
    return "text" if isinstance(v, str) else "a list"
