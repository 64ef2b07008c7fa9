"""The python tool benchmark's quick mode: shape, and the warm round trip under its target."""

from __future__ import annotations

from tests.benchmarks import python_tool


def test_python_tool_round_trip_quick() -> None:
    result = python_tool.run(quick=True)
    assert [r["case"] for r in result["rows"]] == ["warm", "cold"]
    assert result["isolation"]["enforced"]
    warm = next(r for r in result["ratios"] if "warm" in r["name"])
    assert warm["ok"], warm  # under 150 ms even on a loaded machine (it is about 1 ms)
