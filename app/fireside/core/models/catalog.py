"""The gpt-oss GGUF files people actually publish, and where they live on the Hub.

Sizes here are approximate and only for the catalog and the fit badge before anything is
downloaded; the exact size and SHA-256 always come from the Hub at download time (hub.py).
`confirmed` says whether the exact file name was checked against a published listing when this
table was written; unconfirmed entries are shown but the Hub lookup is what decides.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1_000_000_000
GPT_OSS_20B_CONTEXT = 131_072


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # what `fireside models pull ID` accepts
    title: str
    repo_id: str
    filename: str
    quantization: str
    approx_bytes: int
    context_length: int
    publisher_note: str
    confirmed: bool = True

    @property
    def spec(self) -> str:
        return f"{self.repo_id} {self.filename}"


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="gpt-oss-20b",
        title="gpt-oss-20b (official MXFP4, ggml-org)",
        repo_id="ggml-org/gpt-oss-20b-GGUF",
        filename="gpt-oss-20b-mxfp4.gguf",
        quantization="MXFP4",
        approx_bytes=int(12.1 * GB),
        context_length=GPT_OSS_20B_CONTEXT,
        publisher_note="The llama.cpp team's own conversion of OpenAI's MXFP4 weights. "
                       "Start here.",
    ),
    CatalogEntry(
        id="gpt-oss-20b-bartowski-mxfp4",
        title="gpt-oss-20b MXFP4 (bartowski)",
        repo_id="bartowski/openai_gpt-oss-20b-GGUF",
        filename="openai_gpt-oss-20b-MXFP4.gguf",
        quantization="MXFP4",
        approx_bytes=int(12.1 * GB),
        context_length=GPT_OSS_20B_CONTEXT,
        publisher_note="Same MXFP4 experts; bartowski notes the other quants save almost "
                       "nothing because the experts stay MXFP4.",
    ),
    CatalogEntry(
        id="gpt-oss-20b-unsloth-f16",
        title="gpt-oss-20b F16 (unsloth)",
        repo_id="unsloth/gpt-oss-20b-GGUF",
        filename="gpt-oss-20b-F16.gguf",
        quantization="F16 (experts MXFP4)",
        approx_bytes=int(12.8 * GB),
        context_length=GPT_OSS_20B_CONTEXT,
        publisher_note="Unsloth's conversion with their chat-template fixes.",
        confirmed=False,
    ),
    CatalogEntry(
        id="gpt-oss-20b-unsloth-q4_k_m",
        title="gpt-oss-20b Q4_K_M (unsloth)",
        repo_id="unsloth/gpt-oss-20b-GGUF",
        filename="gpt-oss-20b-Q4_K_M.gguf",
        quantization="Q4_K_M (experts MXFP4)",
        approx_bytes=int(11.6 * GB),
        context_length=GPT_OSS_20B_CONTEXT,
        publisher_note="Slightly smaller attention weights; the experts stay MXFP4.",
    ),
)


def find(entry_id: str) -> CatalogEntry | None:
    wanted = entry_id.strip().lower()
    return next((e for e in CATALOG if e.id == wanted), None)
