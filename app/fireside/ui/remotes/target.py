"""What the window asks the inference worker to load when the model runs elsewhere, and how it
names such a model to a person ("gpt-oss-120b on foundry (remote)") and in the history
("foundry:gpt-oss-120b", stored with every reply it writes)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fireside.core.engine.protocol import ModelInfo


@dataclass(frozen=True)
class RemoteTarget:
    """A saved connection's name (or a base URL) and a model id ("": the connection's default)."""

    name_or_url: str
    model: str = ""

    @property
    def label(self) -> str:
        """The connection's name, or the host of a bare URL."""
        text = self.name_or_url.strip()
        if "://" in text:
            return urlsplit(text).netloc or text
        return text

    @property
    def loading_text(self) -> str:
        what = self.model or "the default model"
        return f"{what} on {self.label}"


def in_window_words(message: str) -> str:
    """A core message says where to fix a key for a terminal; in the window, point to the menu."""
    return message.replace("with `fireside remotes add` or the OPENAI_API_KEY variable",
                           "in File ▸ Remote Models… (or the OPENAI_API_KEY variable)")


def remote_model_name(info: ModelInfo, label: str) -> str:
    """The name a reply is saved with: which engine wrote it."""
    return f"{label}:{info.name}"


def remote_status(info: ModelInfo, label: str) -> str:
    """The status-bar line of a remote model: where it runs first, then what is known."""
    parts = [f"{info.name} on {label} (remote)"]
    if info.n_ctx > 0:
        parts.append(f"{info.n_ctx:,}-token context")
    return " · ".join(parts)


def remote_title(info: ModelInfo, label: str) -> str:
    return f"{info.name} on {label} (remote)"
