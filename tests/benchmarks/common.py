"""Shared helpers for the benchmarks: medians, A/B alternation, machine details, CLI output.

Why alternate: the development machine's CPU is shared, so load drifts over minutes. Running the
two sides of a comparison as A, B, A, B, ... within one run exposes both to the same drift, and
the median of each side (and their ratio) is then a fair comparison even when absolute numbers are
noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireside.core.engine.prefix_state import PrefixStore

BENCH_CACHE = Path(os.environ.get("FIRESIDE_BENCH_CACHE", Path.home() / ".cache" / "fireside-bench"))


def median(values: Sequence[float]) -> float:
    """Median of the finite values; NaN when there are none (so a missing side shows as NaN)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def alternate(fns: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Call every function once per round, in the given order, `reps` rounds; collect results.

    The order within a round is rotated each round, so no side always runs first (right after a
    pause, with the caches of the other side) or last.
    """
    names = list(fns)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            out[name].append(float(fns[name]()))
    return out


def ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def make_ratio(name: str, value: float, target: float, *, higher_is_better: bool = True,
               detail: str = "") -> dict[str, Any]:
    """One entry of a section's "ratios" list, in the shape the suite runner expects."""
    ok = math.isfinite(value) and (value >= target if higher_is_better else value <= target)
    return {"name": name, "value": round(value, 4) if math.isfinite(value) else None,
            "target": target, "higher_is_better": higher_is_better, "ok": bool(ok), "detail": detail}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return math.nan


def machine_details() -> dict[str, Any]:
    """What a reader needs to judge the numbers: CPU, cores, RAM, load, library versions."""
    details: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "mem_total_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        details["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:
        from fireside.core.engine.protocol import physical_cores

        details["physical_cores"] = physical_cores()
    except Exception:
        pass
    try:
        import importlib.metadata as md

        details["llama_cpp_python"] = md.version("llama_cpp_python")
    except Exception:
        pass
    try:
        import llama_cpp

        details["llama_system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    except Exception:
        pass
    return details


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of flat dicts (the union of their keys, in first-seen order)."""
    if not rows:
        return "(no rows)"
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}" if math.isfinite(v) else "nan"
        return "" if v is None else str(v)

    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def print_result(result: dict[str, Any], out: str | None) -> None:
    """Table and ratios on stderr (for people), JSON on stdout or to `out` (for tools)."""
    print(f"\n== {result.get('title', '')}", file=sys.stderr)
    print(format_table(result.get("rows", [])), file=sys.stderr)
    for r in result.get("ratios", []):
        mark = "ok " if r["ok"] else "LOW" if r["higher_is_better"] else "HIGH"
        print(f"[{mark}] {r['name']}: {r['value']} (target {'>=' if r['higher_is_better'] else '<='} "
              f"{r['target']}) {r['detail']}", file=sys.stderr)
    text = json.dumps(result, indent=2, default=str)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


def cli(run: Callable[..., dict[str, Any]], description: str, argv: list[str] | None = None,
        extra: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """`python -m tests.benchmarks.X [--quick] [--out FILE]` for every section module."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small models only, for CI (< 60 s)")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    if extra:
        extra(parser)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    print_result(run(**args), out)


def throwaway_prefix_store() -> PrefixStore:
    """A shared-prefix store as `fireside serve` has one, but in a folder of its own that is
    deleted at exit: a benchmark must not find openings stored by an earlier run (or leave its
    own in the user's cache)."""
    import atexit
    import shutil
    import tempfile

    from fireside.core.engine.prefix_state import PrefixStore

    folder = Path(tempfile.mkdtemp(prefix="fireside-bench-prefix-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return PrefixStore(folder)
