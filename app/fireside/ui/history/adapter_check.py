"""A preset's adapters checked against the organisation's allowed_adapters, off the GUI thread.

An entry that pins a SHA-256 means reading the whole adapter file (hundreds of MB for a big rank
on the 20b shape) the first time; that must not freeze the window. `AdapterCheck.check` hands an
immutable snapshot (the uses, the policy, the cache folder) and a job number to a QRunnable on a
one-thread pool; the result comes back as a queued signal, and a result for an older request (a
preset chosen, then another) is dropped. `shutdown()` drains the pool, so nothing emits into a
deleted object.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from fireside.core.admin.model_access import adapter_refusal
from fireside.core.admin.policy import Policy
from fireside.core.chat.conversation import AdapterUse


class _Job(QRunnable):
    def __init__(self, owner: AdapterCheck, job: int, uses: tuple[AdapterUse, ...], policy: Policy,
                 cache: Path) -> None:
        super().__init__()
        self._owner, self._job, self._uses, self._policy, self._cache = owner, job, uses, policy, cache

    def run(self) -> None:
        allowed: list[AdapterUse] = []
        refusals: list[str] = []
        for use in self._uses:
            try:
                refusal = adapter_refusal(use.path, self._policy, self._cache)
            except OSError as e:  # gone or unreadable since the preset was saved
                refusal = f"The adapter {Path(use.path).name} cannot be read ({e.strerror or e})."
            if refusal:
                refusals.append(refusal)
            else:
                allowed.append(use)
        self._owner._done.emit(self._job, tuple(allowed), refusals)


class AdapterCheck(QObject):
    """Checks adapter uses against the policy on a worker thread; emits on the GUI thread."""

    checked = Signal(object, object)  # tuple[AdapterUse, ...] allowed, list[str] refusals
    _done = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = 0
        self._pending = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._done.connect(self._on_done)

    @property
    def pending(self) -> bool:
        """A check is under way whose result has not been delivered yet."""
        return self._pending

    def check(self, uses: tuple[AdapterUse, ...], policy: Policy, cache: Path) -> None:
        """Start checking `uses`; `checked` follows (at once when there is nothing to check)."""
        self._job += 1
        if not uses or policy.get("allowed_adapters") is None:
            self._pending = False
            self.checked.emit(tuple(uses), [])
            return
        self._pending = True
        self._pool.start(_Job(self, self._job, tuple(uses), policy, cache))

    def cancel(self) -> None:
        """Drop the result of any check under way (a new chat without a preset)."""
        self._job += 1
        self._pending = False

    @Slot(int, object, object)
    def _on_done(self, job: int, allowed: tuple[AdapterUse, ...], refusals: list[str]) -> None:
        if job != self._job:
            return  # an older request's answer
        self._pending = False
        self.checked.emit(allowed, refusals)

    def shutdown(self) -> None:
        self._job += 1
        self._pool.waitForDone()
