"""`fireside` as a user runs it: real subprocesses, real models, real exit codes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from fireside.core.chat.harmony import CONTROL_TOKENS
from fireside.core.engine.devices import cpu_module, cpu_variant_scores, devices, variant_of
from tests.helpers.machine import expected_backend


def fireside(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "fireside.cli", *args],
        capture_output=True, text=True, timeout=300, env=env, input=stdin,
    )


def test_chat_json_streams_events_then_done(tiny_gptoss_path: Path, fireside_home: Path):
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--json", "--max-tokens", "24",
                 "--seed", "3", "Hello!", home=fireside_home)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert records[-1]["type"] == "done"
    assert all(rec["type"] in {"reasoning", "answer", "tool_call"} for rec in records[:-1])
    stats = records[-1]["stats"]
    for key in ("ttft_s", "tokens_per_s", "prompt_tokens", "reasoning_tokens", "answer_tokens"):
        assert key in stats
    assert stats["prompt_tokens"] > 20 and stats["ttft_s"] > 0
    text = "".join(rec.get("text", "") for rec in records)
    assert not any(tok in text for tok in CONTROL_TOKENS)


def test_chat_plain_text_on_gemma(gemma_path: Path, fireside_home: Path):
    r = fireside("chat", "--model", str(gemma_path), "--max-tokens", "16", "--temperature", "0",
                 "The capital of France is", home=fireside_home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "tok/s" in r.stderr


@pytest.mark.parametrize("effort", ["low", "medium", "HIGH"])
def test_print_prompt_shows_exact_harmony_prompt(
    tiny_gptoss_path: Path, fireside_home: Path, effort: str
):
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--effort", effort,
                 "--system", "Answer in French.", "--print-prompt", "Hi", home=fireside_home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<|start|>system<|message|>You are ChatGPT")
    assert f"Reasoning: {effort.lower()}\n" in r.stdout
    assert "<|start|>developer<|message|># Instructions\n\nAnswer in French.<|end|>" in r.stdout
    assert r.stdout.endswith("<|start|>user<|message|>Hi<|end|><|start|>assistant")


def test_print_prompt_plain_transcript_for_base_model(gemma_path: Path, fireside_home: Path):
    r = fireside("chat", "--model", str(gemma_path), "--print-prompt", "Hi", home=fireside_home)
    assert r.returncode == 0
    assert r.stdout == "User: Hi\nAssistant:"


def _bad(tmp: Path) -> dict[str, tuple[list[str], str]]:
    junk = tmp / "junk.gguf"
    junk.write_bytes(b"hello world" * 20)
    return {
        "missing": (["--model", str(tmp / "none.gguf"), "hi"], "No file"),
        "not gguf": (["--model", str(junk), "hi"], "not a GGUF"),
        "effort": (["--model", str(junk), "--effort", "extreme", "hi"], "low, medium or high"),
    }


@pytest.mark.parametrize("case", ["missing", "not gguf", "effort", "truncated"])
def test_bad_input_exits_2_with_one_line(
    case: str, tmp_path: Path, fireside_home: Path, tiny_gptoss_path: Path
):
    if case == "truncated":
        cut = tmp_path / "cut.gguf"
        cut.write_bytes(tiny_gptoss_path.read_bytes()[:-500])
        args, expect = ["--model", str(cut), "hi"], "incomplete"
    else:
        args, expect = _bad(tmp_path)[case]
    r = fireside("chat", *args, home=fireside_home)
    assert r.returncode == 2
    assert expect in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_doctor_json(fireside_home: Path):
    r = fireside("doctor", "--json", home=fireside_home)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["paths"]["config"] == str(fireside_home / "config")
    assert report["llama"]["backend"] == expected_backend()
    assert report["llama"]["devices"] == [d.name for d in devices()]
    assert "CPU" in report["llama"]["devices"]  # llama.cpp's CPU device is always there
    assert report["ram_bytes"] > 2**30
    assert report["cpu"]["physical"] >= 1
    # the CPU backend the doctor's own process loaded: the one this process loads too
    assert report["llama"]["cpu_module"] == os.path.basename(cpu_module())
    assert report["llama"]["cpu_variant"] == variant_of(cpu_module())
    assert report["llama"]["cpu_variant_scores"] == cpu_variant_scores()


def test_doctor_names_the_cpu_variant_llama_cpp_chose(fireside_home: Path):
    """With GGML_CPU_ALL_VARIANTS (scripts/install.sh on Linux x86-64) doctor says which build
    of the CPU backend runs here: the best-scoring one (tests/core/engine/test_cpu_variants.py)."""
    r = fireside("doctor", home=fireside_home)
    assert r.returncode == 0, r.stderr
    scores = cpu_variant_scores()
    if sys.platform.startswith("linux") and platform.machine() == "x86_64":
        assert len(scores) == 14, scores
        best = max(scores, key=lambda v: scores[v])
        runs = ", ".join(v for v, s in sorted(scores.items(), key=lambda kv: kv[1]) if s > 0)
        assert (f"CPU backend: {best} (libggml-cpu-{best}.so), chosen by llama.cpp from 14 "
                f"variants; this processor can run {runs}\n") in r.stdout, r.stdout
    else:
        assert scores == {} and "CPU backend: " in r.stdout, r.stdout


def test_chat_speculative_flag_drafts_and_no_speculative_does_not(
    tiny_gptoss_path: Path, fireside_home: Path
):
    runs = {}
    for flag in ("--speculative", "--no-speculative"):
        r = fireside("chat", "--model", str(tiny_gptoss_path), "--json", "--max-tokens", "200",
                     "--temperature", "0", flag, "Say hello, say hello, say hello.",
                     home=fireside_home)
        assert r.returncode == 0, r.stderr
        records = [json.loads(line) for line in r.stdout.splitlines()]
        runs[flag] = ("".join(rec.get("text", "") for rec in records), records[-1]["stats"])
    assert runs["--speculative"][1]["accepted_tokens"] > 0
    assert runs["--no-speculative"][1]["drafted_tokens"] == 0
    # Not compared token for token: with the app's load settings (512-token micro-batches, so a
    # sliding-window cache over 512 cells) llama.cpp attends for one token with a split-KV kernel
    # and for a batch without it, and the greedy replies part after ~100 tokens (speculative.py).
    assert runs["--speculative"][0][:40] == runs["--no-speculative"][0][:40]
