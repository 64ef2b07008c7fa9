"""The engine section's Vulkan pass keeps working: Fireside's engine and llama-bench both with every
layer on the Vulkan device (Mesa's lavapipe where there is no GPU), on the tiny gpt-oss, one round
at small sizes (about a minute on two idle cores, once Mesa's shader cache holds the pipelines).

Not a performance test; it checks that both sides ran on the device with the same settings, by
each one's own report, and that the ratios the suite reads are real numbers.
"""

from __future__ import annotations

import math
import re

import pytest

from fireside.core.engine.devices import backend_modules
from tests.benchmarks import engine_vulkan
from tests.benchmarks.engine_vulkan import DEVICE, NotOnDevice, check_on_device

pytestmark = pytest.mark.slow
N_PROMPT, N_GEN = 224, 8  # the tiny gpt-oss's harmony opening alone is 205 tokens


def _positive(x: float) -> bool:
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def vulkan_pass() -> dict:
    assert "vulkan" in backend_modules(), (
        "this llama-cpp-python has no Vulkan backend module: run scripts/install.sh")
    result = engine_vulkan.run_pass(("tiny-gpt-oss", "gpt-oss-20b-shape"), reps=1,
                                    sizes=(N_PROMPT, N_GEN), timeout=900)
    assert "error" not in result, f"{result['error']}\n{result.get('stderr_tail', '')}"
    return result


def test_both_sides_run_on_the_vulkan_device_with_the_same_settings(vulkan_pass: dict):
    device = vulkan_pass["device"]
    assert device["name"] == DEVICE and device["backend"] == "Vulkan"
    (res,) = vulkan_pass["results"]  # never the 20b shape on the device
    assert res["model"] == f"tiny-gpt-oss ({DEVICE})"
    fireside = res["fireside_report"]
    # Fireside's engine, in its own words: every layer on the device.
    where = re.fullmatch(r"GPU \(Vulkan: (.*)\), (\d+) of \2 layers", fireside["device"])
    assert where is not None and where.group(1) == device["description"], fireside["device"]
    assert fireside["n_gpu_layers"] == -1
    if "llvmpipe" in device["description"]:  # flash attention off on a software device (llama_engine)
        assert fireside["flash_attn"] is False
    # llama-bench, in its own words (its JSON report), for both its runs.
    assert set(res["llama_bench_report"]) == {"pp", "tg"}
    for report in res["llama_bench_report"].values():
        assert "Vulkan" in report["backends"] and device["description"] in report["gpu_info"]
        assert report["devices"] == DEVICE and report["n_gpu_layers"] == 99
        assert bool(report["flash_attn"]) is fireside["flash_attn"]
        assert report["n_threads"] == fireside["threads"] and report["n_batch"] == fireside["n_batch"]
    pp, tg = res["llama_bench_report"]["pp"], res["llama_bench_report"]["tg"]
    assert (pp["n_prompt"], pp["n_gen"]) == (N_PROMPT, 0)
    assert (tg["n_prompt"], tg["n_gen"], tg["n_depth"]) == (0, N_GEN, N_PROMPT)


def test_the_vulkan_pass_gives_finite_ratios(vulkan_pass: dict):
    (res,) = vulkan_pass["results"]
    for kind in ("pp", "tg"):
        assert len(res[f"fireside_{kind}"]) == len(res[f"llama_{kind}"]) == 1
        assert all(_positive(x) for x in res[f"fireside_{kind}"] + res[f"llama_{kind}"])
        assert _positive(res[f"{kind}_ratio"])


def test_a_result_that_ran_on_the_cpu_is_refused():
    """The figure can never silently be a CPU figure (a build without the Vulkan module, or a
    process that did not opt in to lavapipe, used to give a "(Vulkan0)" row measured on the CPU)."""
    report = {"backends": "Vulkan", "gpu_info": "llvmpipe", "devices": DEVICE, "n_gpu_layers": 99,
              "flash_attn": False}
    good = {"model": "m", "fireside_report": {"device": "GPU (Vulkan: llvmpipe), 3 of 3 layers",
                                              "flash_attn": False},
            "llama_bench_report": {"pp": report, "tg": report}}
    check_on_device(good)
    with pytest.raises(NotOnDevice, match="Fireside's engine ran m on 'CPU'"):
        check_on_device({**good, "fireside_report": {"device": "CPU", "flash_attn": False}})
    with pytest.raises(NotOnDevice, match="llama-bench's tg run"):
        check_on_device({**good, "llama_bench_report": {"pp": report, "tg": {**report, "gpu_info": ""}}})
    with pytest.raises(NotOnDevice, match="flash attention differs"):
        check_on_device({**good, "llama_bench_report": {"pp": {**report, "flash_attn": True}}})
