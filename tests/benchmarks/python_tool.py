"""The python tool's round trip: `print(1)` from the call to its outcome, warm and cold.

- warm: a running sandbox (the conversation already used the tool): the pipe round trip and the
  cell's execution;
- cold: a new conversation's first call: start a confined child Python (Landlock, seccomp,
  rlimits applied by the child to itself), then run the cell.
Median and worst of N each, on the suite's interpreter (the user's is the bundle's).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fireside.core.tools.isolation import isolation_report
from fireside.core.tools.python_sandbox import PythonSandbox
from tests.benchmarks.common import make_ratio

WARM_TARGET_MS = 150.0  # issue 11
COLD_TARGET_MS = 1000.0  # chosen here: a first call within a second, on a busy 2-core machine


def measure(warm_n: int, cold_n: int) -> dict[str, list[float]]:
    warm: list[float] = []
    cold: list[float] = []
    with tempfile.TemporaryDirectory(prefix="fireside-bench-python-") as tmp:
        for i in range(cold_n):
            t0 = time.perf_counter()
            with PythonSandbox(Path(tmp) / f"cold{i}") as sb:
                out = sb.run("print(1)")
                cold.append((time.perf_counter() - t0) * 1000)
                assert out.output == "1", out.output
        with PythonSandbox(Path(tmp) / "warm") as sb:
            sb.run("print(1)")
            for _ in range(warm_n):
                t0 = time.perf_counter()
                out = sb.run("print(1)")
                warm.append((time.perf_counter() - t0) * 1000)
                assert out.output == "1", out.output
    return {"warm_ms": warm, "cold_ms": cold}


def run(quick: bool = False) -> dict[str, Any]:
    raw = measure(warm_n=50 if quick else 500, cold_n=5 if quick else 30)
    warm, cold = statistics.median(raw["warm_ms"]), statistics.median(raw["cold_ms"])
    rows = [{"case": name, "median_ms": round(statistics.median(v), 2), "max_ms": round(max(v), 2),
             "runs": len(v)} for name, v in (("warm", raw["warm_ms"]), ("cold", raw["cold_ms"]))]
    ratios = [
        make_ratio("python tool round trip, warm (ms)", warm, WARM_TARGET_MS, higher_is_better=False,
                   detail="print(1) on a running sandbox, median"),
        make_ratio("python tool round trip, cold (ms)", cold, COLD_TARGET_MS, higher_is_better=False,
                   detail="new confined process + print(1), median"),
    ]
    return {"title": "Python tool", "rows": rows, "ratios": ratios, "raw": raw,
            "isolation": isolation_report().as_json()}
