"""A python sandbox per test, in its own work folder, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.tools.limits import SandboxLimits
from fireside.core.tools.python_sandbox import PythonSandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[PythonSandbox]:
    with PythonSandbox(tmp_path / "work", SandboxLimits(wall_time_s=20)) as sb:
        yield sb
