"""Plot of speculative decoding's speed against drafts accepted per pass (issue 15).

Reads one or more results of `python -m tests.benchmarks.speculative --case sweep ... --out FILE`
(each may hold several models) and draws one line per model: x = drafts accepted per pass (of 4),
y = effective tokens/s ÷ plain decoding; the ideal 1 + accepted (a batch as cheap as one token),
plain decoding (1), the adaptive back-off's point at 0 accepted, and issue 15's targets (≥ 2× at 4
accepted on the 20b shape; ≥ 0.97 with nothing accepted).

Run: `python -m tests.benchmarks.plot_speculative A.json [B.json ...] -o
docs/performance/speculative-acceptance.png`. Exit 2 (one line on stderr) for a missing or
foreign file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.plot import MET, plt
from tests.benchmarks.speculative_sweep import ADAPTIVE_TARGET, FULL_TARGET, K

COLORS = {"shape20b": "#d9622b", "gemma": "#2b6cb0", "tiny": "#7a8a99"}
SHORT = {"shape20b": "20b shape", "gemma": "Gemma", "tiny": "tiny"}
LABEL_PLACES = [((6, -11), "left"), ((-6, 7), "right"), ((6, 5), "left")]  # per line, in turn
OTHER_COLORS = ["#8e44ad", "#16a085", "#b7950b"]


def load_lines(paths: list[Path]) -> list[dict[str, Any]]:
    """The sweep lines of every file; ValueError with a reader's message if a file is not one."""
    lines: list[dict[str, Any]] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from exc
        found = data.get("lines") if isinstance(data, dict) else None
        if data.get("kind") != "speculative_sweep" or not isinstance(found, list) or not found:
            raise ValueError(f"{path} is not a sweep result (python -m tests.benchmarks.speculative "
                             "--case sweep --out FILE)")
        for line in found:
            if not isinstance(line, dict) or not isinstance(line.get("points"), list):
                raise ValueError(f"{path} has a sweep line without points")
            lines.append(line | {"source": path.name})
    return lines


def plot(lines: list[dict[str, Any]], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    xs = [0.0, float(K)]
    ax.plot(xs, [1 + x for x in xs], linestyle="--", color="black", linewidth=1,
            label="ideal: 1 + accepted (a batch as cheap as one token)")
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5, label="plain decoding")
    spare = iter(OTHER_COLORS)
    adaptive: list[tuple[float, str, str]] = []
    for n, line in enumerate(lines):
        color = COLORS.get(str(line.get("model"))) or next(spare, "#555555")
        # x: what each full pass keeps (the last pass or two of a reply draft fewer)
        fixed = sorted((p for p in line["points"] if not p.get("adaptive")),
                       key=lambda p: int(p["nominal_accepted"]))
        fx = [float(p["nominal_accepted"]) for p in fixed]
        fy = [float(p["ratio"]) if p["ratio"] is not None else math.nan for p in fixed]
        how = "forced" if line.get("forced", True) else "natural"
        ax.plot(fx, fy, marker="o", color=color, linewidth=1.6,
                label=f"{line.get('label', line.get('model'))} ({how} acceptance)")
        for x, y in zip(fx, fy, strict=True):
            if math.isfinite(y):
                # each line's labels on its own side, so close lines' labels stay apart
                offset, ha = LABEL_PLACES[n % len(LABEL_PLACES)]
                ax.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=offset, ha=ha,
                            fontsize=7, color=color)
        adaptive += [(float(p["ratio"]), color, SHORT.get(str(line.get("model")), str(line.get("model"))))
                     for p in line["points"]
                     if p.get("adaptive") and isinstance(p.get("ratio"), int | float)]
    # the back-off's points all sit at x = 0: their values go in the legend, not beside them
    for y, color, _ in adaptive:
        ax.plot([0.0], [y], marker="D", markerfacecolor="white", color=color, linestyle="none",
                markersize=7, zorder=5)
    values = ", ".join(f"{name} {y:.2f}" for y, _, name in adaptive)
    ax.plot([], [], marker="D", markerfacecolor="white", color="black", linestyle="none",
            label="nothing accepted, adaptive back-off" + (f": {values}" if values else ""))
    ax.plot([K], [FULL_TARGET], marker="^", color=MET, markersize=11, linestyle="none", alpha=0.8,
            label=f"issue 15 targets: ≥ {FULL_TARGET:g}× at {K} accepted (20b shape), "
                  f"≥ {ADAPTIVE_TARGET:g} at 0 (back-off)")
    ax.plot([0], [ADAPTIVE_TARGET], marker="^", color=MET, markersize=11, linestyle="none", alpha=0.8)
    ax.annotate(f"target ≥ {FULL_TARGET:g}×", (K, FULL_TARGET), textcoords="offset points",
                xytext=(-8, 6), ha="right", fontsize=7, color=MET)
    ax.set_xlim(-0.25, K + 0.4)
    top = max([1 + K] + [float(p["ratio"]) for line in lines for p in line["points"]
                         if isinstance(p.get("ratio"), int | float) and math.isfinite(p["ratio"])])
    ax.set_ylim(0, top * 1.08)
    ax.set_xticks(range(K + 1))
    ax.set_xlabel(f"drafts accepted per verification pass (of {K} drafted)")
    ax.set_ylabel("effective tokens/s ÷ plain decoding")
    ax.set_title("Speculative decoding: speed against acceptance", fontsize=10)
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="sweep result JSON files")
    parser.add_argument("-o", "--out", type=Path,
                        default=Path("docs/performance/speculative-acceptance.png"))
    args = parser.parse_args(argv)
    try:
        lines = load_lines(args.results)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(plot(lines, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
