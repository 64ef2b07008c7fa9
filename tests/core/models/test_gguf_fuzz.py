"""No file can crash Fireside: hostile variants of real GGUFs, each through the real checks.

Each variant (truncations, flipped header and metadata bytes, absurd counts and string lengths,
impossible hyperparameters, changed tensor shapes and types, flips anywhere) goes through the
pure-Python checks in this process; the survivors through the child-process load check (llama.cpp's
own loader in a throwaway child); the first few that pass both through `fireside chat` (a real
load and one token). Any traceback, crash, hang, or exit other than 0 or 2 fails the test.
The full count (2,000 tiny + 500 Gemma) runs as `python -m tests.helpers.gguf_fuzz`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.gguf_fuzz import fuzz

CLI_RUNS = 6  # per model: the real CLI on survivors of both checks (about 2-4 s each)


@pytest.mark.parametrize(("model", "n", "seed"), [("tiny", 100, 1), ("gemma", 100, 2)])
def test_hostile_variants_never_crash(
    model: str,
    n: int,
    seed: int,
    tiny_gptoss_path: Path,
    gemma_path: Path,
    tmp_path: Path,
    fireside_home: Path,
):
    src = tiny_gptoss_path if model == "tiny" else gemma_path
    report = fuzz(src, n, seed, tmp_path / "work", fireside_home, cli_limit=CLI_RUNS)
    print(report.summary())
    assert report.failures == [], "\n".join(report.failures)
    assert sum(report.counts.values()) == n
    # the fuzzer reaches every stage: Python refusals, llama.cpp's own verdict, and the CLI
    assert report.counts["refused by the Python checks"] > n // 3
    assert report.check_seconds, "no variant reached the child-process check"
    assert report.cli_runs >= 1
