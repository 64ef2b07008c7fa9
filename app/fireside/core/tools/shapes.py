"""The shapes the registry hands out: one tool's row, one server's row, a refused call, and the
small protocol the python tool (python_sandbox.py, built separately) satisfies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class PythonOutcome(Protocol):
    @property
    def output(self) -> str: ...
    @property
    def error(self) -> bool | str: ...
    @property
    def duration_s(self) -> float: ...


class PythonTool(Protocol):
    """Runs model-written code with the state (variables, work folder) of one conversation."""

    def run(self, conversation_id: str, code: str, timeout: float | None = None) -> PythonOutcome: ...

    def close_all(self) -> None:
        """End every conversation's sandbox process (files in the work folders stay)."""
        ...


@dataclass(frozen=True)
class ToolEntry:
    """One tool for `fireside tools list` and the settings page."""

    name: str  # the model-facing name ("python" or "server__tool")
    server: str  # "" for python
    tool: str  # the server's own name for it
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    state: str = "on"  # "on" | "off" | "server off" | "blocked by policy" | "not available"
    reason: str = ""  # why it is not on, in a sentence
    always_allow: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "server": self.server or None, "tool": self.tool,
                "description": self.description, "parameters": dict(self.parameters),
                "state": self.state, "reason": self.reason, "always_allow": self.always_allow}


@dataclass(frozen=True)
class ServerStatus:
    name: str
    transport: str  # "stdio" | "http"
    target: str  # command line or URL
    state: str  # "not started" | "starting" | "running" | "stopped" | "failed" | "off" | "blocked by policy"
    error: str = ""
    tools: int = 0
    tools_from_cache: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "target": self.target,
                "state": self.state, "error": self.error, "tools": self.tools,
                "tools_from_cache": self.tools_from_cache}


class BadCall(Exception):
    """The call cannot run (unknown tool, tool off, bad arguments): the message says why.

    `runtime` is set when the request was fine but its server could not be started.
    """

    def __init__(self, message: str, runtime: bool = False) -> None:
        super().__init__(message)
        self.runtime = runtime
