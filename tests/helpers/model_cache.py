"""The shared cache for test model files, and building into it atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def default_cache_dir() -> Path:
    """FIRESIDE_TEST_CACHE, else ~/.cache/fireside-tests: shared by all test model helpers."""
    env = os.environ.get("FIRESIDE_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fireside-tests"


def cached_file(target: Path, build: Callable[[Path], object]) -> Path:
    """Return `target`, building it first with `build(tmp_path)` if it is not there yet.

    The file is written under a temporary name in the same folder and renamed into place, so
    parallel test workers never see a half-written model.
    """
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        build(tmp)
        tmp.chmod(0o644)  # mkstemp creates 0600 files; the cache may be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
