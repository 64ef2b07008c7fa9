"""The API peer comparison keeps working with llama.cpp's own llama-server as a side.

llama-server is built here when it is not cached (about 2.5 minutes on 2 cores, once per venv;
tests/benchmarks/llama_bench_build.py), then the peer part runs one short round on Gemma 3 270M.
Not a performance test (the CPU is shared); it checks the binary loads the installed libraries,
that every server's reply ran to max_tokens, and that the ratios are real, positive numbers.
"""

from __future__ import annotations

import math

import pytest

from tests.benchmarks import api_peers, llama_bench_build
from tests.benchmarks.llama_bench_build import (
    SERVER,
    build_llama_server,
    common_lib_dir,
    lib_dir,
    loaded_libs,
)

MAX_TOKENS = 32


def test_llama_server_is_built_against_the_installed_libraries():
    binary = build_llama_server()  # cached after the first build
    libs = loaded_libs(binary)
    installed = str(lib_dir().resolve())
    for soname in ("libllama.so", "libggml.so", "libggml-base.so", "libmtmd.so"):
        (found,) = [path for name, path in libs.items() if name.startswith(soname)]
        assert found.startswith(installed), (soname, found)
    (common,) = [path for name, path in libs.items() if name.startswith("libllama-common.so")]
    assert common.startswith(str(common_lib_dir().resolve()))
    assert llama_bench_build.verify(binary, SERVER)


def test_peer_comparison_with_llama_server_runs_every_reply_to_max_tokens():
    result = api_peers.run(quick=True, only="peer", llama_server=True, reps=1, max_tokens=MAX_TOKENS)
    assert result["settings"]["llama_server"] == str(llama_bench_build.binary_path(SERVER))
    assert result["note"] == ""
    rows = {r["server"]: r for r in result["rows"]}
    assert list(rows) == list(api_peers.SERVERS)
    for side, row in rows.items():
        assert row["tokens"] == MAX_TOKENS, side  # end tokens banned: nobody stopped early
        assert row["median tokens/s"] > 0 and row["median ttft ms"] > 0, side
    native = result["samples"]["peer"]["samples"]["llama-server"]
    assert [s["completion_tokens"] for s in native] == [MAX_TOKENS]  # llama-server's own usage
    assert all(s["text"].strip() for s in native)
    assert [r["name"] for r in result["ratios"]] == [
        "Streaming tokens/s: Fireside's server / llama_cpp.server",
        "Time to first token: llama_cpp.server / Fireside's server",
        "Streaming tokens/s: Fireside's server / llama-server",
        "Time to first token: llama-server / Fireside's server",
    ]
    assert [r["target"] for r in result["ratios"]] == [1.0, 1.0, 0.95, 0.95]
    assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in result["ratios"])


def test_a_requested_llama_server_that_cannot_be_built_fails_the_run(monkeypatch, tmp_path):
    """No compiler (here: no cmake on PATH) and no cached build: an error that says what to do,
    raised before anything is measured, never a run without that side."""
    monkeypatch.setattr(llama_bench_build, "BENCH_CACHE", tmp_path)  # nothing cached there
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError) as failed:
        api_peers.run(quick=True, only="peer", llama_server=True)
    message = str(failed.value)
    assert "llama-server" in message and "cmake" in message and "--no-llama-server" in message
    assert not any(tmp_path.iterdir())  # it stopped before downloading or configuring anything


def test_the_llama_server_side_can_be_left_out(monkeypatch):
    monkeypatch.setenv(api_peers.LLAMA_SERVER_ENV, "0")
    assert api_peers.llama_server_wanted(None) is False
    assert api_peers.llama_server_wanted(True) is True  # an explicit request wins
    monkeypatch.delenv(api_peers.LLAMA_SERVER_ENV)
    assert api_peers.llama_server_wanted(None) is True
    assert api_peers.llama_server_wanted(False) is False
