"""The built-in python tool as the conversation service uses it: one sandbox per conversation.

    tool = PythonTool(paths.data_dir / "python")      # or any folder the caller chooses
    if tool.available: ...                             # else show tool.unavailable_reason
    outcome = tool.run(conversation_id, code)          # ToolOutcome(output, error, duration_s, ...)
    tool.restart(conversation_id); tool.close_all()    # on request; at shutdown

Each conversation gets its own work folder `ROOT/<conversation id>` (kept between runs of Fireside,
so files the code wrote stay with the conversation) and its own process (variables live as long as
the process: until a restart, a time-out, a crash, close() or Fireside quitting).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

from fireside.core.tools.isolation import IsolationReport, isolation_report
from fireside.core.tools.limits import DEFAULT_LIMITS, SandboxLimits, describe_for_model
from fireside.core.tools.python_sandbox import PythonSandbox, SandboxUnavailable, ToolOutcome

NAME = "python"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def enabled_by_default(report: IsolationReport | None = None) -> bool:
    """On where no network and no writes outside the work folder can be enforced, off elsewhere."""
    return (report or isolation_report()).enforced


class PythonTool:
    """Sandboxes by conversation id; at most `max_live` processes, the least recently used closed
    first (its next call is told its variables are gone)."""

    def __init__(self, root: str | Path, limits: SandboxLimits = DEFAULT_LIMITS, *, max_live: int = 4,
                 require_isolation: bool = True) -> None:
        self.root = Path(root)
        self.limits = limits
        self.max_live = max(1, max_live)
        self.require_isolation = require_isolation
        self._sessions: OrderedDict[str, PythonSandbox] = OrderedDict()
        self._evicted: set[str] = set()
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.unavailable_reason == ""

    @property
    def unavailable_reason(self) -> str:
        """Why the tool cannot run here, for a person ('' when it can)."""
        report = isolation_report()
        if not self.require_isolation or report.enforced:
            return ""
        return "The python tool is off on this system: " + "; ".join(report.problems) + "."

    def limits_for_description(self) -> dict[str, str]:
        """'timeout', 'memory' and 'output' as the tool description states them."""
        return describe_for_model(self.limits)

    def work_dir(self, conversation_id: str) -> Path:
        name = _SAFE.sub("_", conversation_id).strip(".") or "default"
        return self.root / name[:120]

    def session(self, conversation_id: str) -> PythonSandbox:
        with self._lock:
            sb = self._sessions.get(conversation_id)
            if sb is not None:
                self._sessions.move_to_end(conversation_id)
                return sb
            sb = PythonSandbox(self.work_dir(conversation_id), self.limits,
                               require_isolation=self.require_isolation)
            self._sessions[conversation_id] = sb
            while len(self._sessions) > self.max_live:
                old_id, old = self._sessions.popitem(last=False)
                old.close()
                self._evicted.add(old_id)
            return sb

    def run(self, conversation_id: str, code: str, timeout: float | None = None) -> ToolOutcome:
        """Run the model's code for this conversation; every failure is an outcome, never an exception."""
        try:
            sb = self.session(conversation_id)
        except SandboxUnavailable as e:
            return ToolOutcome(str(e), error=True)
        outcome = sb.run(code, timeout)
        with self._lock:
            evicted = conversation_id in self._evicted
            self._evicted.discard(conversation_id)
        if evicted:
            note = ("[The python session of this conversation had been closed to free memory; variables "
                    "from earlier calls are gone, files in the work folder remain.]\n")
            outcome = ToolOutcome(note + outcome.output, outcome.error, outcome.duration_s, True,
                                  outcome.truncated)
        return outcome

    def restart(self, conversation_id: str) -> None:
        with self._lock:
            sb = self._sessions.get(conversation_id)
        if sb is not None:
            sb.restart()

    def close(self, conversation_id: str, *, delete_files: bool = False) -> None:
        """End a conversation's process (and, when it is deleted, its work folder)."""
        with self._lock:
            sb = self._sessions.pop(conversation_id, None)
            self._evicted.discard(conversation_id)
        if sb is not None:
            sb.close()
        if delete_files:
            shutil.rmtree(self.work_dir(conversation_id), ignore_errors=True)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for sb in sessions:
            sb.close()
