"""The benchmark suite's quick mode end to end: GUI and start-up sections, results, summary, plots.

It runs `python -m tests.benchmarks.suite --quick --only gui_stall startup` into a temporary
directory (the engine sections have their own quick test, test_quick_engine.py), so the command
documented in docs/PERFORMANCE.md, the section contract, the markdown and the plotting code all
stay working. It asserts shapes and sanity, not speed: targets are for the quiet-machine run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("gui_stall", "startup")


def test_quick_suite_writes_results_summary_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("FIRESIDE_HOME", None)  # each section makes its own throwaway home
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.suite", "--quick", "--only", *SECTIONS,
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    machine = results["machine"]
    for key in ("cpu", "logical_cpus", "mem_total_gib", "os", "python", "pyside6_essentials",
                "llama_cpp_python", "date_utc", "git"):
        assert key in machine, key
    assert results["quick"] is True and list(results["sections"]) == list(SECTIONS)
    for name in SECTIONS:
        section = results["sections"][name]
        assert "error" not in section, section.get("error")
        assert section["title"] and section["rows"] and all(isinstance(r, dict) for r in section["rows"])
        for ratio in section["ratios"]:
            assert set(ratio) >= {"name", "value", "target", "higher_is_better", "ok", "detail"}
            assert isinstance(ratio["value"], float | int) and isinstance(ratio["ok"], bool)

    gui = results["sections"]["gui_stall"]
    assert gui["tokens"] == 50_000 and gui["saved_complete"] is True
    assert gui["characters"] > 300_000  # the whole reply reached the window
    assert sum(gui["latency_hist"]["counts"]) > 1000  # the heartbeat ticked all along
    names = {r["name"] for r in gui["ratios"]}
    assert {"GUI event-loop lateness p99 while streaming (ms)", "GUI CPU per token, 50k / 1k tokens"} <= names
    assert gui["early"]["tokens"] >= 400 and gui["late"]["tokens"] >= 400

    startup = results["sections"]["startup"]
    window = startup["rows"][0]
    assert window["baseline_s"] > 0 and 0 < window["fireside_s"] < 30
    assert window["fireside_rss_mib"] > 20 and window["baseline_rss_mib"] > 20
    ready = [r for r in startup["rows"] if r["what"].startswith("model ready")]
    assert len(ready) == 2 and all(r["fireside_s"] > 0 and r["model_resident_mib"] >= 0 for r in ready)

    summary = (out / "summary.md").read_text()
    assert "## Ratios against targets" in summary
    assert "| section | name | value | target | met? | detail |" in summary
    assert "GUI event-loop lateness p99" in summary and "model ready (tiny gpt-oss)" in summary

    for png in ("ratios.png", "gui_latency.png", "gui_render_cost.png", "startup.png"):
        path = out / png
        assert path.is_file() and f"({png})" in summary, png
        with Image.open(path) as image:
            assert image.width >= 400 and image.height >= 300
            colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colors is None or len(colors) > 8  # drawn, not a blank canvas
