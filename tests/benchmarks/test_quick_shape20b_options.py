"""The benchmarks' `--model shape20b` paths keep working: run on the tiny gpt-oss in its place.

The 20b shape's file (12 GB) is not built for tests; the same code runs on the tiny model by
pointing shape20b_path at it, and when the file is missing the benchmark says so and exits.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.benchmarks import api_server, lora, shape20b, speculative, speculative_sweep
from tests.helpers.tiny_gptoss import cached_tiny_gptoss


@pytest.fixture
def tiny_as_shape20b(monkeypatch: pytest.MonkeyPatch) -> Path:
    tiny = cached_tiny_gptoss()
    monkeypatch.setattr(shape20b, "shape20b_path", lambda *a, **k: tiny)
    return tiny


def test_speculative_forced_acceptance_accepts_every_draft(tiny_as_shape20b: Path) -> None:
    result = speculative.run_shape20b(max_tokens=32, reps=1)
    random_row, forced_row = result["rows"]
    # forced: every draft is the greedy reply's own next token, FORCED_K a pass
    assert forced_row["drafted"] > 0 and forced_row["accepted"] == forced_row["drafted"]
    assert speculative.speculative.llama_cpp is speculative.llama_cpp  # restored
    spec = [s for s in result["samples"]["forced"] if s["speculative"]]
    assert all(s["drafted"] <= speculative.FORCED_K * s["tokens"] for s in spec)
    assert random_row["tok/s with"] > 0 and random_row["tok/s without"] > 0
    assert [r["target"] for r in result["ratios"]] == [speculative.WORST_TARGET,
                                                       speculative.FORCED_TARGET]
    assert speculative.speculative.Drafter.draft.__name__ == "draft"  # restored
    assert speculative.speculative.Drafter.draft.__qualname__ == "Drafter.draft"


def test_speculative_sweep_runs_on_the_20b_path(tiny_as_shape20b: Path) -> None:
    result = speculative_sweep.run_sweep("shape20b", max_tokens=12, reps=1, threads=1)
    (line,) = result["lines"]
    assert line["model"] == "shape20b" and line["label"].startswith("gpt-oss-20b shape")
    assert [p["accepted"] for p in line["points"]][:5] == [
        speculative_sweep.expected_passes(j, 12)[2] for j in range(5)]
    assert all(p["output_identical"] for p in line["points"])


def test_lora_on_the_20b_path_measures_speed_and_switching(tiny_as_shape20b: Path) -> None:
    result = lora.run_shape20b(tokens=8, reps=1)
    (row,) = result["rows"]
    gen, switch = result["generation"], result["switching"]
    assert len(gen["base_tokens_per_s"]) == len(gen["adapter_tokens_per_s"]) == 1
    assert all(x > 0 for x in gen["base_tokens_per_s"] + gen["adapter_tokens_per_s"])
    assert all(not x <= 0 for x in gen["base_cpu_s_per_token"] + gen["adapter_cpu_s_per_token"])
    assert math.isfinite(result["ratios"][0]["value"]) and result["ratios"][2]["value"] < 1000
    assert len(switch["ttft_turn2_after_switch_s"]) == 2  # at least two rounds
    assert 0 < switch["attach_loaded_ms_median"] < 1000
    assert switch["turn2_prompt_tokens"] > 0 and len(row["first_load_ms"]) == 2


def test_missing_shape20b_is_reported_not_built(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setattr(shape20b, "shape20b_path", lambda *a, **k: tmp_path / "absent.gguf")
    for run in (lambda: lora.run_shape20b(8, 1), lambda: speculative.run_shape20b(8, 1),
                lambda: speculative_sweep.run_sweep("shape20b", 8, 1),
                lambda: api_server.run(models_chosen=("shape20b",))):
        with pytest.raises(SystemExit, match="not cached"):
            run()
    assert not (tmp_path / "absent.gguf").exists()
