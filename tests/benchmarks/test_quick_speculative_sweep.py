"""The acceptance sweep (speculative_sweep.py) and its plot keep working: the tiny gpt-oss, seconds.

Not a performance test (the CPU is shared): it checks that every side accepts what it claims,
that the replies equal plain decoding, and that the plot command reads the result.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from fireside.core.engine import speculative
from tests.benchmarks import plot_speculative, speculative_sweep
from tests.benchmarks.speculative_sweep import ADAPTIVE, K, expected_passes, run_sweep

TOKENS = 24


def _check(result: dict, forced: bool) -> list[dict]:
    (line,) = result["lines"]
    assert (line["model"], line["k"], line["forced"]) == ("tiny", K, forced)
    points = line["points"]
    assert [p["side"] for p in points] == [*(str(j) for j in range(K + 1)), ADAPTIVE]
    fixed = points[:-1]
    for j, p in enumerate(fixed):
        assert p["tokens"] == [TOKENS]  # end tokens banned: every reply runs to max_tokens
        # every pass drafts K (fewer near max_tokens) and keeps exactly j of them
        assert (p["passes"], p["drafted"], p["accepted"]) == expected_passes(j, TOKENS), p
        assert math.isfinite(p["ratio"]) and p["ratio"] > 0 and p["tok_s"] > 0
        # the reply equals plain decoding's: scripted passes emit the same tokens, in order
        assert p["output_identical"], p
    accepted = [p["accepted_per_pass"] for p in fixed]
    assert accepted == sorted(accepted) and accepted[0] == 0 and accepted[-1] > K - 1
    adaptive = points[-1]
    assert adaptive["accepted"] == 0 and 0 < adaptive["passes"] < fixed[0]["passes"] // 2  # back-off
    assert adaptive["output_identical"]
    assert [r["target"] for r in result["ratios"]] == [speculative_sweep.FULL_TARGET,
                                                       speculative_sweep.ADAPTIVE_TARGET]
    # the engine's real parts are back in place
    assert speculative.Adaptive.__name__ == "Adaptive"
    assert speculative.Drafter.draft.__qualname__ == "Drafter.draft"
    assert speculative.llama_cpp.__name__ == "llama_cpp"
    return points


def test_natural_sweep_is_exact_greedy_on_the_tiny_model():
    """Nothing forced: drafts are the plain reply's tokens, then a banned one; greedy itself keeps
    exactly the first j (the tiny model's batched rows pick as single tokens do, see
    test_speculative.py), and every reply is token-for-token plain decoding's."""
    _check(run_sweep("tiny", max_tokens=TOKENS, reps=1, force=False, threads=1), forced=False)


def test_forced_sweep_and_its_plot(tmp_path: Path):
    """Forced: the sampler runs on every verified position but answers the plain reply's token,
    so each pass keeps exactly j whatever the batch computes; the reply then equals plain
    decoding's by construction, which checks the emitting and rollback bookkeeping. The plot
    command takes several result files (one line per model) and refuses a foreign one."""
    result = run_sweep("tiny", max_tokens=TOKENS, reps=1, threads=1)
    _check(result, forced=True)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(result))
    second.write_text(json.dumps(result | {"lines": [result["lines"][0] | {"model": "other",
                                                                             "label": "other"}]}))
    out = tmp_path / "plot" / "sweep.png"
    assert plot_speculative.main([str(first), str(second), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert [line["model"] for line in plot_speculative.load_lines([first, second])] == ["tiny", "other"]
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"title": "not a sweep", "rows": []}))
    assert plot_speculative.main([str(foreign), "-o", str(tmp_path / "x.png")]) == 2
    assert plot_speculative.main([str(tmp_path / "absent.json")]) == 2
    assert not (tmp_path / "x.png").exists()
