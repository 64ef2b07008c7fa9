"""Shared fixtures: real model files (generated or assembled once, cached outside git)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GOMP_SPINCOUNT", "2000")  # as the app does (see fireside/__init__.py)
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.helpers


@pytest.fixture(autouse=True)
def fireside_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings, data and models under a throwaway FIRESIDE_HOME."""
    home = tmp_path / "fireside-home"
    monkeypatch.setenv("FIRESIDE_HOME", str(home))
    # A test's own policy goes here; FIRESIDE_POLICY_FILE is read after the machine's policy
    # (see core/admin/policy.py), so the suite refuses to run where a machine policy exists.
    monkeypatch.setenv("FIRESIDE_POLICY_FILE", str(tmp_path / "policy.json"))
    # The machine-wide model folder too: tests must never write to /usr/local/share/Fireside.
    monkeypatch.setenv("FIRESIDE_SHARED_MODELS_DIR", str(tmp_path / "shared-models"))
    monkeypatch.delenv("FIRESIDE_MODELS", raising=False)
    return home


@pytest.fixture(autouse=True, scope="session")
def _no_machine_policy() -> None:
    """A real admin policy would lock what the tests change; say so instead of failing oddly."""
    from fireside.core.admin.policy import default_sources, load_policy

    machine = [s for s in default_sources() if s[0] != os.environ.get("FIRESIDE_POLICY_FILE")]
    if load_policy(machine).values:
        pytest.exit("This machine has a Fireside admin policy (e.g. /etc/fireside/policy.json); "
                    "run the tests where none is installed.", returncode=3)


@pytest.fixture(scope="session")
def tiny_gptoss_path() -> Path:
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    return cached_tiny_gptoss()


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    from tests.helpers.gemma import cached_gemma

    return cached_gemma()
