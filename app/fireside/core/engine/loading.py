"""How to load a model, from the settings in force and any overrides a command line gave.

One function, so the window, `fireside chat` and `fireside serve` load a model the same way.
"""

from __future__ import annotations

from fireside.core.config.settings import Settings
from fireside.core.engine.protocol import LoadConfig


def load_config(settings: Settings, *, n_ctx: int | None = None, n_threads: int | None = None,
                n_gpu_layers: int | None = None, speculative: bool | None = None) -> LoadConfig:
    """The LoadConfig for `settings`; an override given here wins over the setting. Pinning the
    GPU split (`n_gpu_layers`) turns the fit planner off, since the person decided."""
    return LoadConfig(
        n_ctx=n_ctx or settings.n_ctx,
        n_threads=n_threads or settings.n_threads or None,
        n_gpu_layers=settings.n_gpu_layers if n_gpu_layers is None else n_gpu_layers,
        flash_attn=settings.flash_attn,
        auto_fit=settings.auto_fit and n_gpu_layers is None,
        speculative=settings.speculative if speculative is None else speculative,
    )
