"""Fit plans computed off the GUI thread: model folder scans, machine detection, GGUF headers.

Listing the model folders walks directories (a shared one may be on a slow network drive),
detecting the machine loads llama.cpp's device list and planning an installed model reads its
GGUF header; none of it belongs on the GUI thread. `FitPlanner.request(paths)` hands an immutable
snapshot (the paths, the machine, the context ceiling) and a job number to a QRunnable; results
come back as queued signals and any result from an older request is dropped. `shutdown()` drains
the pool, so nothing emits into a deleted object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from fireside.core.models.fit_planner import Machine, detect_machine, plan_fit, profile_from_gguf
from fireside.core.models.folders import ModelDir
from fireside.core.models.gguf_info import GGUFError, read_gguf
from fireside.core.models.installed import list_all


class _Job(QRunnable):
    def __init__(self, owner: FitPlanner, job: int, paths: tuple[str, ...],
                 machine: Machine | None, max_ctx: int | None,
                 scan: tuple[tuple[ModelDir, ...], Path] | None = None) -> None:
        super().__init__()
        self._owner, self._job, self._paths = owner, job, paths
        self._machine, self._max_ctx, self._scan = machine, max_ctx, scan

    def run(self) -> None:
        if self._scan is not None:
            dirs, user_dir = self._scan
            models = list_all(list(dirs))
            partial = user_dir / ".partial"
            paused = [m.stem for m in sorted(partial.glob("*.json"))] if partial.is_dir() else []
            self._owner._listed.emit(self._job, models, paused)
            self._paths = tuple(str(m.path) for m in models)
        machine = self._machine or detect_machine()
        self._owner._machineFound.emit(self._job, machine)
        for path in self._paths:
            try:
                gguf = read_gguf(path)
                plan = plan_fit(profile_from_gguf(gguf), machine, max_ctx=self._max_ctx)
            except GGUFError as e:
                self._owner._result.emit(self._job, path, None, str(e))
            except OSError as e:
                self._owner._result.emit(self._job, path, None,
                                         f"Could not read {path}: {e.strerror or e}.")
            else:
                self._owner._described.emit(self._job, path, gguf.summary())
                self._owner._result.emit(self._job, path, plan, "")


class FitPlanner(QObject):
    """Plans installed models on a one-thread pool; emits on the GUI thread, newest job only."""

    machineDetected = Signal(object)  # Machine
    planned = Signal(str, object)  # path, Plan
    planFailed = Signal(str, str)  # path, message for a person
    described = Signal(str, str)  # path, the file's metadata in words (GGUFInfo.summary)
    listed = Signal(object, object)  # list[InstalledModel] in search order, paused download names

    _listed = Signal(int, object, object)
    _machineFound = Signal(int, object)
    _result = Signal(int, str, object, str)
    _described = Signal(int, str, str)

    def __init__(self, parent: QObject | None = None, *, machine: Machine | None = None) -> None:
        super().__init__(parent)
        self._machine = machine
        self._job = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._listed.connect(self._on_listed)
        self._machineFound.connect(self._on_machine)
        self._result.connect(self._on_result)
        self._described.connect(self._on_described)

    @property
    def machine(self) -> Machine | None:
        return self._machine

    def request(self, paths: Sequence[str], *, max_ctx: int | None = None) -> int:
        """Plan these files (an empty list just detects the machine); returns the job number."""
        self._job += 1
        self._pool.start(_Job(self, self._job, tuple(paths), self._machine, max_ctx))
        return self._job

    def scan(self, dirs: Sequence[ModelDir], user_dir: Path, *, max_ctx: int | None = None) -> int:
        """List every model folder, then plan what was found: `listed`, then `planned` per file."""
        self._job += 1
        self._pool.start(_Job(self, self._job, (), self._machine, max_ctx, (tuple(dirs), user_dir)))
        return self._job

    def shutdown(self) -> None:
        self._job += 1  # whatever is still queued for the GUI thread is now stale
        self._pool.waitForDone()

    @Slot(int, object, object)
    def _on_listed(self, job: int, models: object, paused: object) -> None:
        if job == self._job:
            self.listed.emit(models, paused)

    @Slot(int, object)
    def _on_machine(self, job: int, machine: Machine) -> None:
        if job == self._job:
            first = self._machine is None
            self._machine = machine
            if first:
                self.machineDetected.emit(machine)

    @Slot(int, str, str)
    def _on_described(self, job: int, path: str, summary: str) -> None:
        if job == self._job:
            self.described.emit(path, summary)

    @Slot(int, str, object, str)
    def _on_result(self, job: int, path: str, plan: object, error: str) -> None:
        if job != self._job:
            return
        if plan is None:
            self.planFailed.emit(path, error)
        else:
            self.planned.emit(path, plan)
