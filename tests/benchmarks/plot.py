"""Plots of a suite run (matplotlib, Agg backend: no display needed), written next to results.json.

`render_all(results, out)` draws what the sections measured and returns the PNG names it wrote:
- ratios.png: every ratio as a share of its target (≤ 1 is met), so one picture shows the run;
- gui_latency.png: the GUI event loop's lateness histogram, and the worst lateness over the reply;
- gui_render_cost.png: GUI cost per token near 1k tokens and near 50k (flat is the goal);
- startup.png: time to window / to model ready, and resident memory, Fireside next to baselines;
- engine_tokens.png: tokens/s, Fireside vs llama.cpp's llama-bench, per model.
A section that is missing or failed is skipped; the others still get their plots.
Run alone: `python -m tests.benchmarks.plot docs/performance/results.json`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FIRESIDE, BASELINE, MET, MISSED = "#d9622b", "#7a8a99", "#3a8f5c", "#c0392b"


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], colors: list[str], unit: str) -> None:
    """Grouped bars: one group per label, one bar per series, values written on top."""
    width = 0.8 / max(len(series), 1)
    for k, ((name, values), color) in enumerate(zip(series.items(), colors, strict=False)):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name, color=color)
        ax.bar_label(bars, labels=[f"{v:.3g}" if v == v else "" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)


def plot_ratios(results: dict[str, Any], out: Path) -> str | None:
    entries = []
    for key, section in results["sections"].items():
        for r in section.get("ratios", []):
            value, target = r.get("value"), r.get("target")
            if not isinstance(value, int | float) or not isinstance(target, int | float) or not target:
                continue
            share = (target / value if value else math.inf) if r.get("higher_is_better") else value / target
            entries.append((f"{key}: {r['name']}", share, bool(r.get("ok"))))
    if not entries:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(entries) + 1.4))
    names = [e[0] for e in entries]
    shares = [min(e[1], 5.0) for e in entries]
    ax.barh(range(len(entries)), shares, color=[MET if e[2] else MISSED for e in entries])
    ax.set_yticks(range(len(entries)), names, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1)
    for i, e in enumerate(entries):
        ax.text(min(e[1], 5.0) + 0.03, i, f"{e[1]:.2f}", va="center", fontsize=7)
    ax.set_xlabel("share of target (≤ 1 is met; capped at 5)")
    ax.set_title("Ratios against targets", fontsize=10)
    fig.subplots_adjust(left=0.5, right=0.97, top=0.95, bottom=0.6 / (0.42 * len(entries) + 1.4))
    fig.savefig(out / "ratios.png", dpi=110)  # not tight_layout: it clips the long names
    plt.close(fig)
    return "ratios.png"


def plot_gui_latency(section: dict[str, Any], out: Path) -> str | None:
    hist, timeline = section.get("latency_hist"), section.get("timeline")
    if not hist:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    edges, counts = hist["edges_ms"], hist["counts"]
    lo = [max(e, 0.005) for e in edges[:-1]]
    left.bar(lo, counts, width=[b - a for a, b in zip(lo, edges[1:], strict=True)], align="edge",
             color=FIRESIDE, edgecolor="white", linewidth=0.3)
    left.set_xscale("log")
    left.set_yscale("log")
    for x, label in ((16, "16 ms (p99 target)"), (50, "50 ms (max target)")):
        left.axvline(x, color="black", linestyle="--", linewidth=0.8)
        left.text(x * 1.08, max(counts) * 0.5, label, rotation=90, fontsize=7, va="top")
    left.set_xlabel("heartbeat lateness (ms, log)")
    left.set_ylabel("ticks (log)")
    left.set_title(f"GUI event-loop lateness while streaming {section.get('tokens', 0):,} tokens", fontsize=9)
    if timeline:
        right.plot([p["tokens"] for p in timeline], [p["max_ms"] for p in timeline], ".", markersize=2,
                   color=FIRESIDE)
        right.axhline(16, color="black", linestyle="--", linewidth=0.8)
        right.axhline(50, color=MISSED, linestyle="--", linewidth=0.8)
        right.set_yscale("symlog", linthresh=1)
        right.set_ylim(bottom=0)
        right.set_xlabel("tokens shown")
        right.set_ylabel("worst lateness in slice (ms)")
        right.set_title("Stalls over the reply (includes the fast-forward in quick mode)", fontsize=9)
    return _save(fig, out, "gui_latency.png")


def plot_gui_render(section: dict[str, Any], out: Path) -> str | None:
    early, late = section.get("early"), section.get("late")
    if not early or not late:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    total = section.get("tokens", 50_000)
    _bars(ax, ["GUI thread CPU per token", "append path per token"],
          {"near 1k tokens": [early["cpu_per_token_us"], early["sync_per_token_us"]],
           f"near {total // 1000}k tokens": [late["cpu_per_token_us"], late["sync_per_token_us"]]},
          [BASELINE, FIRESIDE], "µs per token")
    ax.set_title("Render cost per token: flat means a long reply streams as cheaply as a short one",
                 fontsize=9)
    return _save(fig, out, "gui_render_cost.png")


def plot_startup(section: dict[str, Any], out: Path) -> str | None:
    rows = section.get("rows") or []
    if not rows:
        return None
    labels = [r["what"].replace("model ready: ", "ready: ").replace(" (no model)", "") for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    _bars(left, labels, {"Fireside": [r.get("fireside_s", math.nan) for r in rows],
                         "baseline": [r.get("baseline_s", math.nan) for r in rows]},
          [FIRESIDE, BASELINE], "seconds from process start")
    left.set_title("Start-up (baseline: empty Qt window / bare llama-cpp-python)", fontsize=9)
    _bars(right, labels, {"Fireside": [r.get("fireside_rss_mib", math.nan) for r in rows],
                          "baseline": [r.get("baseline_rss_mib", math.nan) for r in rows],
                          "model's own pages": [r.get("model_resident_mib", 0.0) for r in rows]},
          [FIRESIDE, BASELINE, "#e8c07a"], "resident memory (MiB)")
    right.set_title("Resident memory when shown / when the model is ready", fontsize=9)
    return _save(fig, out, "startup.png")


def plot_engine(section: dict[str, Any], out: Path) -> str | None:
    rows = [r for r in section.get("rows") or [] if "model" in r]
    if not rows:
        return None

    def col(row: dict[str, Any], key: str) -> float:
        value = row.get(key)
        return float(value) if isinstance(value, int | float) else math.nan

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind, title in ((axes[0], "tg", "generation"), (axes[1], "pp", "prompt processing")):
        _bars(ax, [r["model"] for r in rows],
              {"Fireside": [col(r, f"fireside {kind} t/s") for r in rows],
               "llama-bench": [col(r, f"llama-bench {kind} t/s") for r in rows]},
              [FIRESIDE, BASELINE], "tokens/s (log scale)")
        ax.set_yscale("log")  # the tiny model runs 1,000x faster than the 20b shape: all must show
        ax.set_title(f"Tokens/s, {title}: Fireside vs llama.cpp", fontsize=9)
    return _save(fig, out, "engine_tokens.png")


PLOTTERS: dict[str, list[Callable[[dict[str, Any], Path], str | None]]] = {
    "gui_stall": [plot_gui_latency, plot_gui_render],
    "startup": [plot_startup],
    "engine_vs_llama": [plot_engine],
}


def render_all(results: dict[str, Any], out: Path) -> list[str]:
    """Every plot the results allow; a plot that fails is left out, not fatal."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    jobs: list[tuple[Callable[..., str | None], tuple[Any, ...]]] = [(plot_ratios, (results, out))]
    for key, section in results["sections"].items():
        if not section.get("error"):
            jobs += [(fn, (section, out)) for fn in PLOTTERS.get(key, [])]
    for fn, args in jobs:
        try:
            name = fn(*args)
        except Exception as exc:  # one odd section must not cost the other plots
            results.setdefault("plot_errors", []).append(f"{fn.__name__}: {exc!r}")
            plt.close("all")
            continue
        if name:
            written.append(name)
    return written


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/performance/results.json")
    print(render_all(json.loads(path.read_text()), path.parent))
