"""The engine benchmarks keep working: quick runs on the tiny model (about 15 s in all).

Not a performance test (the CPU is shared, numbers vary); it checks that each section returns the
structure the suite runner reads and that its measurements are real, positive numbers.
"""

from __future__ import annotations

import math

import pytest

from tests.benchmarks import bandwidth, engine_vs_llama, multiturn, prefix_cache, shape20b, structured
from tests.benchmarks.llama_bench_build import binary_path, find_llama_bench


def _check_section(result: dict) -> None:
    assert isinstance(result["title"], str) and result["title"]
    assert result["rows"] and all(isinstance(r, dict) for r in result["rows"])
    for r in result["ratios"]:
        assert set(r) >= {"name", "value", "target", "higher_is_better", "ok", "detail"}
        assert isinstance(r["ok"], bool)


def _positive(x: float) -> bool:
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


def test_engine_vs_llama_quick_on_the_tiny_model():
    """Both sides measured and compared. Without llama-bench there is nothing to compare against,
    and that is a failure to fix (build it once), not a pass."""
    if find_llama_bench() is None:
        pytest.fail(f"llama-bench is not built at {binary_path()}, so Fireside's engine cannot be "
                    "compared with llama.cpp's. Build it once (about 5 minutes on 2 cores, cached): "
                    "python -m tests.benchmarks.llama_bench_build")
    result = engine_vs_llama.run(quick=True, only="tiny-gpt-oss", reps=2)
    _check_section(result)
    assert result["settings"]["llama_bench"] == str(binary_path())
    (res,) = result["results"]
    assert len(res["fireside_pp"]) == len(res["fireside_tg"]) == 2
    assert all(_positive(x) for x in res["fireside_pp"] + res["fireside_tg"])
    assert len(res["llama_pp"]) == len(res["llama_tg"]) == 2
    assert all(_positive(x) for x in res["llama_pp"] + res["llama_tg"])
    assert [r["name"] for r in result["ratios"]] == [
        "tiny-gpt-oss prompt processing (Fireside / llama-bench)",
        "tiny-gpt-oss generation (Fireside / llama-bench)",
    ]
    assert all(_positive(r["value"]) for r in result["ratios"])


def test_multiturn_reuses_the_prefix_across_a_reply_longer_than_the_window():
    result = multiturn.run(quick=True)
    _check_section(result)
    (res,) = result["results"]
    turns = res["turns"]
    assert len(turns) == multiturn.TURNS
    assert 3500 < res["total_prompt_tokens"] < 5000  # "about 4,000 tokens"
    assert all(t["reused"] > 0 for t in turns[1:])  # every later turn reuses the cache
    assert res["after_long_reply"]["checkpoint_restored"]  # through the SWA checkpoint
    assert res["after_long_reply"]["reused"] == turns[multiturn.LONG_TURN - 1]["prompt_tokens"]
    assert _positive(res["reuse_ratio"]) and _positive(res["fresh_ratio"])
    assert res["fresh_last_s"] > res["reuse_last_s"]  # 4,000 tokens take longer than 200


def test_bandwidth_quick_and_bytes_per_token_from_the_tensor_table():
    result = bandwidth.run(quick=True)
    _check_section(result)
    assert _positive(result["numpy_copy_gbs"])
    if result["stream_gbs"]:
        assert _positive(result["stream_gbs"]["triad"])
    bpt = result["bytes_per_token"]
    assert bpt["bytes_per_token"] == sum(bpt["parts"].values()) > 0
    assert bpt["parts"]["experts_active"] * 4 == pytest.approx(bpt["experts_stored_bytes"] * 2, rel=0.01)


def test_shape20b_tensor_table_matches_gpt_oss_20b_mxfp4():
    specs = shape20b.tensor_specs()
    kinds = [s.kind for s in specs]
    n_f32 = kinds.count("f32") + kinds.count("norm")
    assert (n_f32, kinds.count("q8"), kinds.count("mxfp4")) == (289, 98, 72)
    assert 12.0e9 < sum(s.nbytes for s in specs) < 12.2e9  # gpt-oss-20b-mxfp4.gguf is 12.1 GB
    tokens, types, _, specials = shape20b.build_vocab()
    assert len(tokens) == len(types) == 201_088 == len(set(tokens))
    assert specials["<|return|>"] == 200_002 and specials["<|start|>"] == 200_006


def test_structured_output_speed_section_measures_both_sides():
    result = structured.run(quick=True, max_tokens=24, reps=1)
    _check_section(result)
    assert [r["side"] for r in result["rows"]] == ["plain", *structured.SCHEMAS]
    assert len(result["ratios"]) == 2 * len(structured.SCHEMAS)
    assert all(_positive(r["value"]) for r in result["ratios"])
    for name in structured.SCHEMAS:
        (sample,) = result["samples"]["gemma-3-270m"][name]
        assert sample["answer"].lstrip().startswith("{")


def test_structured_output_speed_on_a_harmony_model_constrains_only_the_answer():
    """The path the 20b shape takes (`--model shape20b`), on the tiny gpt-oss: each reply forced
    through an analysis into the final channel, the grammar from there, the answer's speed."""
    result = structured.run(quick=True, max_tokens=40, reps=1, models=("tiny",))
    _check_section(result)
    assert [r["side"] for r in result["rows"]] == ["plain", *structured.SCHEMAS]
    assert all(r["model"] == "tiny-gpt-oss" and r["speed of"] == "the answer" for r in result["rows"])
    assert all(_positive(r["value"]) for r in result["ratios"])
    samples = result["samples"]["tiny-gpt-oss"]
    (plain,) = samples["plain"]
    assert plain["stop"] == "length" and plain["answer_tokens"] > 10  # ran to max_tokens, in the answer
    for name in structured.SCHEMAS:
        (sample,) = samples[name]
        assert sample["answer"].lstrip().startswith("{") and sample["answer_tokens"] > 5
    # the 20b shape is measured only when already cached, and never built by the benchmark
    path = structured.model_path("shape20b")
    assert path is None or path.is_file()


def test_prefix_cache_restores_the_tools_opening_warm_and_after_a_restart():
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    result = prefix_cache.run(model=str(cached_tiny_gptoss(n_ctx_train=8192)))
    _check_section(result)
    (res,) = result["results"]
    assert len(result["ratios"]) == 2
    assert res["restart_disk_hits"] >= 1  # a new engine, empty memory: what it restored came from disk
    assert res["opening_tokens_restored"] > 0.9 * res["prompt_tokens_with_tools"]
    assert all(_positive(x) for x in (*res["warm_tools_s"], *res["warm_none_s"],
                                      res["restart_tools_s"], res["first_chat_with_tools_s"]))
