"""Real MCP servers for the registry tests (the SDK one and the protocol-alone one, over stdio and
HTTP), and a python sandbox per test in its own work folder, closed afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths
from fireside.core.tools.limits import SandboxLimits
from fireside.core.tools.python_sandbox import PythonSandbox

HERE = Path(__file__).resolve().parent
SDK_SERVER = HERE / "sdk_server.py"
RAW_SERVER = HERE / "raw_server.py"


def stdio(script: Path, *args: str) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(script), *args]}


def make_paths(root: Path) -> Paths:
    return Paths(config=root / "config", data=root / "data", models=root / "models",
                 cache=root / "cache", logs=root / "logs")


def write_mcp_json(paths: Paths, servers: dict[str, Any]) -> Path:
    paths.config.mkdir(parents=True, exist_ok=True)
    p = paths.config / "mcp.json"
    p.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return p


def policy_of(tmp_path: Path, data: dict[str, Any] | None) -> Policy:
    if not data:
        return load_policy([])
    from fireside.core.admin.policy import _read_json

    p = tmp_path / "policy.json"
    p.write_text(json.dumps(data), encoding="utf-8")
    return load_policy([(str(p), lambda: _read_json(p))])


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The SDK server on streamable HTTP at 127.0.0.1 (a port the kernel picked)."""
    proc = subprocess.Popen([sys.executable, str(SDK_SERVER), "--http"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket listens
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    finally:
        proc.kill()  # uvicorn's graceful stop would wait for the hung call the tests leave behind
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[PythonSandbox]:
    with PythonSandbox(tmp_path / "work", SandboxLimits(wall_time_s=20)) as sb:
        yield sb
