"""The registry every front end builds: this user's paths and policy, and the python tool.

The python tool keeps one confined sandbox per conversation under the user's data folder
(`data/python/<conversation>`); where its isolation cannot be enforced it is absent, with the
sentence saying why (isolation.py), so it is never offered unconfined.
"""

from __future__ import annotations

from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths, app_paths
from fireside.core.tools.registry import PythonTool, ToolRegistry

NOT_AVAILABLE = "The python tool is not available in this version of Fireside."


def python_tool(paths: Paths) -> tuple[PythonTool | None, str]:
    from fireside.core.tools.python_tool import PythonTool as SandboxedPython

    tool = SandboxedPython(paths.data / "python")
    if reason := tool.unavailable_reason:
        return None, reason
    return tool, ""


def build_registry(paths: Paths | None = None, policy: Policy | None = None) -> ToolRegistry:
    policy = load_policy() if policy is None else policy
    paths = app_paths(policy=policy) if paths is None else paths
    tool, unavailable = python_tool(paths)
    return ToolRegistry(paths, policy, tool, python_unavailable=unavailable)
