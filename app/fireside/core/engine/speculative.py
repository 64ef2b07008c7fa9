"""Prompt-lookup (n-gram) speculative decoding for LlamaEngine's token loop.

Much of what an assistant writes is already in its context: code it edits, text it rewrites, a
tool's output it quotes. `Drafter` matches the last few tokens against the prompt and the reply so
far and proposes the tokens that followed the most recent earlier occurrence. `Speculator` then
evaluates the current token plus the drafts in ONE llama_decode with logits for every position,
samples each position with the reply's own sampler chain, keeps the longest prefix the sampler
agrees with (plus the sampler's own token at the first disagreement) and removes the rejected
positions from the KV cache.

Distribution: each emitted token is sampled by the same chain, in the same order, as plain
decoding would sample it (one call per emitted token, never one for a rejected position), so the
random stream and the sampler's state advance exactly as without speculation: this is standard
speculative sampling for a deterministic draft (a draft is accepted with probability p(draft)).
See PrefixCache.truncate for why dropping rejected positions is safe under sliding-window
attention (the batch must fit one micro-batch, which `Speculator` ensures).

Exactness, measured (llama-cpp-python 0.3.36, CPU, AVX2): greedy output is identical only where
llama.cpp computes a row of a batch bit-for-bit as it computes a single token, and its CPU kernels
are not batch-invariant: F32/F16/Q8_0 weights go through llamafile's tinyBLAS from 2 rows on
(1e-7..1e-3 apart from ggml's single-row dot products), K-quants through the repacked GEMM from 4
rows on (Gemma 3 270M Q4_K_M: logits up to ~1.2 apart), and flash attention for a single query
switches to a split-KV reduction once 512 or more cells are attended. Gemma with batches of at
most 3 tokens below 512 cells is bit-exact (tested); beyond that greedy replies can part at a
near-tie. Hence LoadConfig.speculative and the setting are off by default.

Adaptive: the draft length grows while drafts are accepted and shrinks to what was accepted; a
draft with nothing accepted doubles a cool-down (in tokens) before the next one, so where nothing
can be copied (random weights) drafting nearly stops and plain decoding pays almost nothing. The
back-off carries over from one reply to the next on the same loaded model (`DraftRecord`, kept by
the engine): a conversation whose drafts keep missing starts each reply already backed off
instead of paying its first misses again (on an MoE model a missed 4-token draft costs about two
tokens' time), and one accepted draft clears it.
Harmony-aware: drafts stop before any control token (`<|end|>`, `<|call|>`, `<|channel|>`...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llama_cpp

from fireside.core.engine.kv_cache import SEQ, PrefixCache

NGRAM_SIZES = (4, 3, 2)  # longest match first
K_START = 4
K_MAX = 12
MAX_COOLDOWN = 64  # tokens without drafting after repeated misses, at most


class Drafter:
    """Proposes continuations by looking the last n tokens up in everything seen so far."""

    def __init__(self, history: Sequence[int], is_barrier: Callable[[int], bool]) -> None:
        self._tokens: list[int] = []
        self._index: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in NGRAM_SIZES}
        self._is_barrier = is_barrier
        for token in history:
            self.append(token)

    def append(self, token: int) -> None:
        """Add a token; index the n-grams ending at the previous one (never the tail itself, so a
        lookup of the tail finds an earlier occurrence)."""
        toks = self._tokens
        end = len(toks)
        for n, index in self._index.items():
            if end >= n:
                index[tuple(toks[end - n : end])] = end
        toks.append(token)

    def extend(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            self.append(token)

    def draft(self, k: int) -> list[int]:
        """Up to k tokens that followed the most recent earlier occurrence of the longest tail."""
        toks = self._tokens
        n_tok = len(toks)
        for n, index in self._index.items():
            if n_tok < n:
                continue
            start = index.get(tuple(toks[n_tok - n :]))
            if start is None:
                continue
            out: list[int] = []
            for token in toks[start : min(start + k, n_tok)]:
                if self._is_barrier(token):
                    break
                out.append(token)
            if out:
                return out
        return []


@dataclass
class DraftRecord:
    """Consecutive drafts with nothing accepted, carried from one reply to the next (one per
    loaded model)."""

    misses: int = 0


class Adaptive:
    """How many tokens to draft next, from how the last drafts fared (in this reply and, through
    `record`, in the replies before it)."""

    def __init__(self, k_max: int = K_MAX, record: DraftRecord | None = None) -> None:
        self.k_max = max(1, k_max)
        self.k = min(K_START, self.k_max)
        self.record = record if record is not None else DraftRecord()
        self.cooldown = 0  # tokens to decode plainly before drafting again
        if self.misses:  # the last reply ended backed off: start this one where it stopped
            self.k = 1
            self.cooldown = min(2**self.misses, MAX_COOLDOWN)

    @property
    def misses(self) -> int:
        """Consecutive drafts with nothing accepted (the record's: it outlives this reply)."""
        return self.record.misses

    def ready(self) -> bool:
        if self.cooldown > 0:
            self.cooldown -= 1
            return False
        return True

    def update(self, drafted: int, accepted: int) -> None:
        if accepted == 0:
            self.record.misses += 1
            self.cooldown = min(2**self.misses, MAX_COOLDOWN)
            self.k = 1
            return
        self.record.misses = 0
        self.k = min(self.k + 2, self.k_max) if accepted == drafted else max(1, accepted)


class Speculator:
    """Drafts, verifies in one batch and rolls back, for one reply. Call close() when done."""

    def __init__(
        self,
        ctx: llama_cpp.llama_context_p,
        cache: PrefixCache,
        sampler: llama_cpp.llama_sampler_p,
        is_barrier: Callable[[int], bool],
        record: DraftRecord | None = None,
    ) -> None:
        self._ctx = ctx
        self._cache = cache
        self._sampler = sampler
        # The whole batch must be one micro-batch (see PrefixCache.truncate), and leave room.
        self.k_max = max(0, min(K_MAX, llama_cpp.llama_n_ubatch(ctx) - 1))
        self._adaptive = Adaptive(self.k_max, record)
        self._drafter = Drafter(cache.tokens, is_barrier)
        self._batch = llama_cpp.llama_batch_init(self.k_max + 1, 0, 1)
        self.drafted = 0
        self.accepted = 0

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None

    def advance(self, token: int, room: int) -> list[int] | None:
        """Put `token` (just emitted) into the cache, with drafts if any are worth trying.

        `room` bounds the draft (tokens the reply may still emit, cells left in the context).
        Returns None if llama.cpp failed, else the tokens sampled after `token`: empty when no
        draft was tried (the caller samples the next token as usual), else the accepted drafts
        followed by the sampler's own token, all already sampled and, but the last, in the cache.
        """
        self._drafter.append(token)
        drafts: list[int] = []
        if self.k_max > 0 and room > 1 and self._adaptive.ready():
            drafts = self._drafter.draft(min(self._adaptive.k, room - 1))
        if not drafts:
            return [] if self._cache.decode_one(token) else None
        return self._verify(token, drafts)

    def _verify(self, token: int, drafts: list[int]) -> list[int] | None:
        cache, batch = self._cache, self._batch
        assert batch is not None
        seq = [token, *drafts]
        pos = cache.n_past
        for i, t in enumerate(seq):
            batch.token[i] = t
            batch.pos[i] = pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = SEQ
            batch.logits[i] = 1
        batch.n_tokens = len(seq)
        if not cache.decode_batch(batch, seq):
            return None
        sampled: list[int] = []
        for i in range(len(seq)):
            s = llama_cpp.llama_sampler_sample(self._sampler, self._ctx, i)
            sampled.append(s)
            if i >= len(drafts) or s != drafts[i]:
                break
        accepted = len(sampled) - 1
        if not cache.truncate(pos + 1 + accepted):
            return None
        self.drafted += len(drafts)
        self.accepted += accepted
        self._adaptive.update(len(drafts), accepted)
        self._drafter.extend(sampled[:-1])
        return sampled
