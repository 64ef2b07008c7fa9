"""The benchmark suite: every section, one results.json, a summary.md and the plots.

Run: `.venv/bin/python -m tests.benchmarks.suite [--quick] [--only SECTION ...] [--out DIR]`
(default DIR: docs/performance). Not part of the timed test run; tests/benchmarks/
test_quick_suite.py runs the quick mode of the GUI and start-up sections to keep this working.

Each section is a module here with `run(quick: bool = False) -> dict` returning
{"title", "rows": [flat dicts], "ratios": [{"name", "value", "target", "higher_is_better", "ok",
"detail"}], …raw}. Every section runs in a child process of its own: one that crashes (a segfault
in llama.cpp, a Qt abort), hangs past its time limit or is not written yet is recorded with its
error, and the others' results are kept. results.json is rewritten after each section, so even
an interrupted run leaves what it measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("gui_stall", "startup", "engine_vs_llama", "bandwidth", "multiturn", "python_tool",
            "tool_loop", "remote_overhead", "structured", "api_server", "api_peers", "lora",
            "speculative", "prefix_cache")
DEFAULT_OUT = ROOT / "docs" / "performance"
# Generous: full mode streams 250 s and builds llama-bench on first use; a hang still ends.
TIME_LIMIT_S = {"quick": 600, "full": 4 * 3600}


def run_section_here(name: str, quick: bool) -> dict[str, Any]:
    """Import and run one section in this process (the child side)."""
    import importlib

    module = importlib.import_module(f"tests.benchmarks.{name}")
    return module.run(quick=quick)


def run_section(name: str, quick: bool, time_limit_s: float) -> dict[str, Any]:
    """Run one section in a child process; its result, or a record of why there is none."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"fireside-bench-{name}-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "tests.benchmarks.suite", "--child", name, "--child-out", str(out)]
        if quick:
            argv.append("--quick")
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        try:
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=time_limit_s, check=False)
            error = "" if done.returncode == 0 else f"exit code {done.returncode}: {done.stderr[-3000:]}"
            stderr = done.stderr
        except subprocess.TimeoutExpired as exc:
            error, stderr = f"no result within {time_limit_s:.0f} s", str(exc.stderr or "")
        result: dict[str, Any] = {}
        if out.is_file():
            result = json.loads(out.read_text())
    result.setdefault("title", name)
    result.setdefault("rows", [])
    result.setdefault("ratios", [])
    if error and "error" not in result:
        result["error"] = error
    result["seconds"] = round(time.perf_counter() - started, 1)
    if result.get("error"):
        result["stderr_tail"] = stderr[-2000:]
    return result


def git_commit() -> dict[str, Any]:
    """The commit measured, and whether tracked files had uncommitted changes (read-only git calls)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    try:
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": git("rev-parse", "HEAD"), "dirty": dirty}
    except OSError:
        return {"commit": "unknown"}


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, OS, Python and library versions, date and git commit."""
    try:
        from tests.benchmarks.common import machine_details

        details = machine_details()
    except Exception as exc:  # the helper module is another section's; never lose the run for it
        details = {"machine_details_error": repr(exc), "platform": platform.platform(),
                   "python": platform.python_version(), "logical_cpus": os.cpu_count()}
    import importlib.metadata as md

    for dist in ("PySide6_Essentials", "llama_cpp_python", "matplotlib"):
        try:
            details[dist.lower()] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    try:
        import llama_cpp

        libs = sorted(p.name for p in (Path(llama_cpp.__file__).parent / "lib").glob("libggml.so.*.*"))
        details["ggml_lib"] = libs[-1] if libs else "unknown"
        details["llama_cpp_commit"] = "not recorded in the llama-cpp-python wheel (vendored llama.cpp)"
    except Exception:
        pass
    details["os"] = platform.platform()
    details["date_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    details["git"] = git_commit()
    return details


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if value is None:
        return "n/a"
    return str(value).replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(no rows)_\n"
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def ratios_table(sections: dict[str, dict[str, Any]]) -> str:
    rows = []
    for key, section in sections.items():
        for r in section.get("ratios", []):
            sign = "≥" if r.get("higher_is_better") else "≤"
            rows.append({"section": key, "name": r.get("name"), "value": r.get("value"),
                         "target": f"{sign} {fmt(r.get('target'))}",
                         "met?": "yes" if r.get("ok") else "**no**", "detail": r.get("detail", "")})
        if section.get("error"):
            rows.append({"section": key, "name": "(section failed)", "value": None, "target": "",
                         "met?": "**no**", "detail": section["error"].splitlines()[0][:200]})
    return markdown_table(rows)


def summary_markdown(results: dict[str, Any], plots: list[str]) -> str:
    meta = results["machine"]
    mode = "quick" if results["quick"] else "full"
    parts = [f"# Fireside performance: {mode} run, {meta.get('date_utc', '')}\n",
             f"Command: `{results['command']}` ({results['seconds']:.0f} s)\n",
             "## Machine\n", markdown_table([{"what": k, "value": json.dumps(v) if isinstance(v, dict) else v}
                                              for k, v in meta.items()]),
             "\n## Ratios against targets\n", ratios_table(results["sections"])]
    for key, section in results["sections"].items():
        parts.append(f"\n## {section.get('title', key)} (`{key}`, {section.get('seconds', 0):.0f} s)\n")
        if section.get("error"):
            parts.append(f"**Failed:** `{section['error'].splitlines()[0][:300]}`\n")
        if section.get("note"):
            parts.append(f"{section['note']}\n")
        parts.append(markdown_table(section.get("rows", [])))
    if plots:
        parts.append("\n## Plots\n")
        parts += [f"![{p}]({p})\n" for p in plots]
    return "\n".join(parts)


def write_outputs(out: Path, results: dict[str, Any], final: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    if not final:
        return
    plots: list[str] = []
    try:
        from tests.benchmarks.plot import render_all

        plots = render_all(results, out)
    except Exception:
        results["plot_error"] = traceback.format_exc()[-2000:]
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "summary.md").write_text(summary_markdown(results, plots))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.suite", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds per section instead of minutes")
    p.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                   help=f"run only these sections ({', '.join(SECTIONS)})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where results.json, summary.md and the plots go (default: docs/performance)")
    p.add_argument("--child", choices=SECTIONS, help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:  # the child side: run one section, write its result (or its error)
        try:
            result, code = run_section_here(args.child, args.quick), 0
        except Exception:
            trace = traceback.format_exc()
            result, code = {"error": trace.strip().splitlines()[-1] + "\n" + trace}, 1
        args.child_out.write_text(json.dumps(result, default=str))
        return code

    started = time.perf_counter()
    names = args.only or list(SECTIONS)
    results: dict[str, Any] = {
        "quick": args.quick,
        "command": " ".join(["python -m tests.benchmarks.suite", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(), "sections": {}, "seconds": 0.0,
    }
    limit = TIME_LIMIT_S["quick" if args.quick else "full"]
    for name in names:
        print(f"[suite] {name} …", file=sys.stderr, flush=True)
        section = run_section(name, args.quick, limit)
        results["sections"][name] = section
        results["seconds"] = round(time.perf_counter() - started, 1)
        state = f"failed: {section['error'].splitlines()[0][:160]}" if section.get("error") else "ok"
        print(f"[suite] {name}: {state} ({section['seconds']:.0f} s)", file=sys.stderr, flush=True)
        write_outputs(args.out, results, final=False)
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(args.out, results, final=True)
    print(f"[suite] wrote {args.out}/results.json, summary.md and plots in {results['seconds']:.0f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
