"""The tool loop benchmark's quick mode: both cases measured, each split, under the 20 ms target."""

from __future__ import annotations

from tests.benchmarks import tool_loop


def test_tool_loop_overhead_quick() -> None:
    result = tool_loop.run(quick=True, turns=1, calls=5)
    assert [r["case"] for r in result["rows"]] == ["unsaved", "saved"]
    for row in result["rows"]:
        # the engine did the model's work and the tool ran, both timed apart from the loop
        assert row["engine_ms"] > 0 and row["tool_ms"] > 0
        assert row["wall_ms"] > row["engine_ms"] + row["tool_ms"]
        assert abs(row["engine_stats_ms"] - row["engine_ms"]) < 0.2 * row["engine_ms"]
    saved = result["rows"][1]
    assert saved["history_ms_per_call"] > 0 and saved["history add_message ms/call"] > 0
    assert result["rows"][0]["history_ms_per_call"] == 0
    for ratio in result["ratios"]:
        assert ratio["ok"], ratio  # about 0.2 ms unsaved and 5 ms saved on the shared 2-core box
