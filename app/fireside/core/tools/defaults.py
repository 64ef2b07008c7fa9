"""The registry every front end builds: this user's paths and policy, and the python tool if any.

One place to plug the python sandbox in (it is built on another branch): `python_tool()` returns
the tool object (anything with `run(code, timeout) -> outcome(output, error, duration_s)`, see
registry.PythonTool) and "" , or None and the sentence saying why there is none.
"""

from __future__ import annotations

from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths, app_paths
from fireside.core.tools.registry import PythonTool, ToolRegistry

NOT_AVAILABLE = "The python tool is not available in this version of Fireside."


def python_tool() -> tuple[PythonTool | None, str]:
    return None, NOT_AVAILABLE


def build_registry(paths: Paths | None = None, policy: Policy | None = None) -> ToolRegistry:
    policy = load_policy() if policy is None else policy
    paths = app_paths(policy=policy) if paths is None else paths
    tool, unavailable = python_tool()
    return ToolRegistry(paths, policy, tool, python_unavailable=unavailable)
