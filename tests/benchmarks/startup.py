"""Start-up and memory: time to a shown window, time to a loaded model, resident memory.

Every figure is a child process timed from the parent: the parent reads `time.monotonic()` just
before spawning and the child prints the same clock when it reaches the moment measured (see
fireside/ui/shell/startup_probe.py, switched on by FIRESIDE_STARTUP_PROBE=1). Each Fireside run is
paired with a baseline run in the same repetition, in alternating order (AB, BA, …) so drift on a
shared CPU falls on both sides, and the medians and the median of the per-pair ratios are kept:

- window: `fireside` (no model, a throwaway FIRESIDE_HOME) to the first paint of its window,
  next to a child that only imports PySide6 and shows an empty QMainWindow of the same size;
- model ready: `fireside --model X` (the GUI path: window, fit plan, LlamaEngine.load on the
  worker thread) to the window's modelLoaded, next to bare `llama_cpp.Llama(X, n_ctx)` with the
  same context settings, for the tiny gpt-oss and Gemma 3 270M GGUFs from tests/helpers;
- memory: RSS when the window is shown, and with the model loaded the RSS beyond the model's own
  resident file pages (the GGUF is mmapped; /proc/self/smaps gives those pages).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.benchmarks.common import make_ratio

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
TIMEOUT_S = 120

# Targets (what "met" means in the ratios table), chosen before measuring; see docs/PERFORMANCE.md.
SHOWN_TARGET_S = 1.0  # a window within a second of double-clicking
SHOWN_RATIO_TARGET = 2.0  # Fireside adds at most what Python + Qt themselves cost
READY_RATIO_TARGET = 1.5  # the GUI path costs at most half again a bare llama-cpp-python load
RSS_RATIO_TARGET = 2.0  # a shown Fireside window, next to an empty Qt window
EXTRA_RSS_TARGET_MIB = 150.0  # with a model: Fireside's RSS beyond bare llama-cpp-python's


def fireside_command(*args: str) -> list[str]:
    """The installed `fireside` entry point next to this Python, else the same call through -c."""
    script = Path(sys.executable).with_name("fireside")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "import sys; from fireside.cli import main; sys.exit(main())", *args]


def baseline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.benchmarks.baseline_child", *args]


def probe(argv: list[str], home: Path) -> dict[str, Any]:
    """Run one child; seconds from spawn to each probe line it printed, with its memory fields."""
    env = {**os.environ, "FIRESIDE_HOME": str(home), "FIRESIDE_STARTUP_PROBE": "1",
           "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("FIRESIDE_POLICY_FILE", None)
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    result: dict[str, Any] = {"exit_s": time.monotonic() - start, "returncode": done.returncode}
    for line in done.stdout.splitlines():
        if not line.startswith('{"probe"'):
            continue
        event = json.loads(line)
        name = event.pop("probe")
        result[f"{name}_s"] = event.pop("monotonic") - start
        result.update({f"{name}_{k}": v for k, v in event.items()})
    if done.returncode != 0 or not any(k in result for k in ("shown_s", "ready_s")):
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-800:]}")
    if "failed_s" in result:
        raise RuntimeError(f"the model did not load: {result.get('failed_message')}")
    return result


def paired(a: Callable[[], dict[str, Any]], b: Callable[[], dict[str, Any]], reps: int,
           warm_up: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`reps` runs of each, alternating which goes first; one untimed warm-up of each before."""
    if warm_up:
        a(), b()  # page cache, .pyc files, fontconfig cache: the first run of anything is an outlier
    runs_a, runs_b = [], []
    for rep in range(reps):
        if rep % 2 == 0:
            runs_a.append(a())
            runs_b.append(b())
        else:
            runs_b.append(b())
            runs_a.append(a())
    return runs_a, runs_b


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def pair_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float:
    """Median of the per-repetition ratios: each pair ran back to back under the same load."""
    return statistics.median(x[key] / y[key] for x, y in zip(a, b, strict=True))


def ratio(name: str, value: float, target: float, detail: str) -> dict[str, Any]:
    """Every target here is a ceiling: lower is better."""
    return make_ratio(name, value, target, higher_is_better=False, detail=detail)


def measure_window(home: Path, reps: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return paired(lambda: probe(fireside_command(), home),
                  lambda: probe(baseline_command("window"), home), reps)


def measure_model(model: Path, home: Path, reps: int,
                  warm_up: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fireside first learns the context it picks for this model; the baseline then loads the same."""
    n_ctx = [0]

    def app() -> dict[str, Any]:
        result = probe(fireside_command("--model", str(model)), home)
        n_ctx[0] = int(result["ready_n_ctx"])
        return result

    def bare() -> dict[str, Any]:
        return probe(baseline_command("llama", str(model), str(n_ctx[0] or 4096)), home)

    return paired(app, bare, reps, warm_up)


def default_models() -> dict[str, Path]:
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    return {"tiny gpt-oss": cached_tiny_gptoss(), "Gemma 3 270M": cached_gemma()}


def run(quick: bool = False, models: dict[str, Path] | None = None) -> dict[str, Any]:
    """The section for tests/benchmarks/suite.py: rows, ratios against targets and the raw runs."""
    window_reps, model_reps = (3, 1) if quick else (10, 5)
    models = default_models() if models is None else models
    home = Path(tempfile.mkdtemp(prefix="fireside-startup-"))
    app_w, base_w = measure_window(home, window_reps)
    rows: list[dict[str, Any]] = [{
        "what": "window shown (no model)",
        "fireside_s": round(med(app_w, "shown_s"), 3), "baseline_s": round(med(base_w, "shown_s"), 3),
        "fireside_rss_mib": round(med(app_w, "shown_rss_bytes") / MIB, 1),
        "baseline_rss_mib": round(med(base_w, "shown_rss_bytes") / MIB, 1),
        "baseline": "PySide6 + empty QMainWindow",
    }]
    rss_app, rss_base = med(app_w, "shown_rss_bytes") / MIB, med(base_w, "shown_rss_bytes") / MIB
    ratios = [
        ratio("start-up to shown window (s)", med(app_w, "shown_s"), SHOWN_TARGET_S,
              "Fireside, no model, process spawn to first paint"),
        ratio("start-up to window, Fireside / empty Qt window", pair_ratio(app_w, base_w, "shown_s"),
              SHOWN_RATIO_TARGET, f"{med(app_w, 'shown_s'):.2f} s vs {med(base_w, 'shown_s'):.2f} s, "
              "median of per-pair ratios"),
        ratio("RSS with window shown, Fireside / empty Qt window",
              pair_ratio(app_w, base_w, "shown_rss_bytes"), RSS_RATIO_TARGET,
              f"{rss_app:.0f} MiB vs {rss_base:.0f} MiB"),
    ]
    raw: dict[str, Any] = {"window": {"fireside": app_w, "baseline": base_w}, "models": {}}
    for name, path in models.items():
        app_m, base_m = measure_model(path, home, model_reps, warm_up=not quick)
        raw["models"][name] = {"fireside": app_m, "baseline": base_m, "path": str(path)}
        overhead_app = [r["ready_rss_bytes"] - r["ready_model_rss_bytes"] for r in app_m]
        overhead_base = [r["ready_rss_bytes"] - r["ready_model_rss_bytes"] for r in base_m]
        extra = statistics.median(a - b for a, b in zip(overhead_app, overhead_base, strict=True)) / MIB
        rows.append({
            "what": f"model ready: {name}",
            "fireside_s": round(med(app_m, "ready_s"), 3), "baseline_s": round(med(base_m, "ready_s"), 3),
            "fireside_rss_mib": round(med(app_m, "ready_rss_bytes") / MIB, 1),
            "baseline_rss_mib": round(med(base_m, "ready_rss_bytes") / MIB, 1),
            "model_resident_mib": round(med(app_m, "ready_model_rss_bytes") / MIB, 1),
            "fireside_beyond_model_mib": round(statistics.median(overhead_app) / MIB, 1),
            "baseline_beyond_model_mib": round(statistics.median(overhead_base) / MIB, 1),
            "n_ctx": app_m[-1]["ready_n_ctx"],
            "baseline": "bare llama_cpp.Llama, same n_ctx",
        })
        ratios.append(ratio(f"model ready ({name}), Fireside GUI / bare llama-cpp",
                            pair_ratio(app_m, base_m, "ready_s"), READY_RATIO_TARGET,
                            f"{med(app_m, 'ready_s'):.2f} s vs {med(base_m, 'ready_s'):.2f} s "
                            "from process start"))
        ratios.append(ratio(f"RSS beyond model pages ({name}), Fireside minus bare llama-cpp (MiB)", extra,
                            EXTRA_RSS_TARGET_MIB,
                            f"{statistics.median(overhead_app) / MIB:.0f} MiB vs "
                            f"{statistics.median(overhead_base) / MIB:.0f} MiB beyond the mapped GGUF"))
    return {"title": "Start-up and memory", "rows": rows, "ratios": ratios, "raw": raw,
            "method": {"window_reps": window_reps, "model_reps": model_reps,
                       "timing": "parent monotonic clock at spawn to child's probe line",
                       "model_ready": "GUI path: fireside --model X until MainWindow.modelLoaded"}}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1)[:6000])
