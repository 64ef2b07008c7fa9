"""The status bar's model line says where the model runs."""

from __future__ import annotations

from fireside.core.engine.protocol import ModelInfo
from fireside.ui.wording import model_status


def _info(device: str) -> ModelInfo:
    return ModelInfo(path="/m/gpt-oss-20b.gguf", name="gpt-oss-20b", architecture="gpt-oss",
                     prompt_format="harmony", n_ctx=8192, n_ctx_train=131072, size_bytes=0,
                     fit="Runs fully on GPU", device=device)


def test_model_status_names_the_gpu_and_the_layers_on_it() -> None:
    line = model_status(_info("GPU (Vulkan: AMD Radeon RX 7800 XT), 24 of 24 layers"))
    assert line == ("gpt-oss-20b · 8,192-token context · Runs fully on GPU · "
                    "GPU (Vulkan: AMD Radeon RX 7800 XT), 24 of 24 layers")


def test_model_status_says_cpu() -> None:
    assert model_status(_info("CPU")).endswith(" · CPU")
