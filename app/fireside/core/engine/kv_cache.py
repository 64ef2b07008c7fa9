"""Exact KV-cache reuse across turns, including models with sliding-window attention (SWA).

The cache holds one sequence. `prepare(tokens)` keeps the longest prefix that is already evaluated
and drops the rest; `evaluate` feeds the remainder in batches; `checkpoint()` snapshots the SWA
layers at the end of a prompt.

Why checkpoints: with llama.cpp's `swa_full=False`, SWA layers keep only about the last window of
positions (half of gpt-oss's KV memory is saved this way: 24 KiB per token instead of 48). After a
reply that ran past the window, the positions just before the end of the previous prompt are gone
from those layers, so resuming there would attend to nothing and silently change the output.
llama-cpp-python's own prefix reuse ignores this; llama.cpp's server restores a snapshot of the
SWA cells instead. We do the same: the snapshot taken at the end of each prompt (a few MB) holds
exactly the window that the next turn needs, because the next prompt diverges from the cached
tokens right where the reply began. We restore on every rewind rather than trusting the SWA
cells: llama.cpp reuses masked cells in ring order, so which old positions survive is not
something its API reports.

A checkpoint taken when the cache held `n` tokens also serves a rewind to `n - 1`, the point an
identical resend, a regenerate or an agent's resend of the same conversation rewinds to (one
token is always evaluated again for its logits). llama.cpp writes a sequence's SWA state as the
cells *not* masked for its last position, `n - 1` (`llama_kv_cache::state_write`, with the same
`is_masked_swa` test attention uses), which is exactly the window position `n - 1` attends to;
`prepare` then removes position `n - 1` itself and evaluates it again. A rewind to `n - 2` would
need one cell the snapshot does not hold, so it is not served.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass

import llama_cpp

from fireside.core.engine.protocol import EngineError

log = logging.getLogger(__name__)

MAX_CHECKPOINTS = 4
SEQ = 0


@dataclass(frozen=True)
class Checkpoint:
    n_tokens: int  # the cache held exactly tokens[:n_tokens] when this was taken
    data: ctypes.Array[ctypes.c_uint8]


class PrefixCache:
    """Tracks which tokens are in the KV cache and rewinds it safely."""

    def __init__(self, ctx: llama_cpp.llama_context_p, *, n_swa: int, swa_full: bool) -> None:
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self.n_swa = n_swa
        self.limited_swa = n_swa > 0 and not swa_full
        self.n_batch = llama_cpp.llama_n_batch(ctx)
        self.tokens: list[int] = []
        self.checkpoints: list[Checkpoint] = []
        self.restores = 0  # how often a checkpoint made reuse possible (for tests and stats)
        self.full_reevaluations = 0
        # What else the cells depend on besides the tokens: the LoRA adapter set and scales
        # (engine.lora.adapter_key). Cells computed under another key are never reused.
        self.key: object = ()
        self._one = (llama_cpp.llama_token * 1)()
        # llama_batch_get_one only points a batch at the token array, so one batch serves every
        # generated token (building the ctypes struct anew cost a few microseconds a token).
        self._one_batch = llama_cpp.llama_batch_get_one(self._one, 1)

    @property
    def n_past(self) -> int:
        return len(self.tokens)

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(self._mem, True)
        self.tokens = []
        self.checkpoints = []

    def use_key(self, key: object) -> None:
        """Evaluate the next prompt under `key`: a different key than the cells were computed
        under empties the cache (checkpoints too), so the prompt is evaluated from the start."""
        if key == self.key:
            return
        if self.tokens:
            self.full_reevaluations += 1
            self.clear()
        self.key = key

    def prepare(self, tokens: list[int]) -> int:
        """Keep the reusable prefix of `tokens` in the cache; return how many tokens were kept."""
        n_common = 0
        for a, b in zip(self.tokens, tokens, strict=False):
            if a != b:
                break
            n_common += 1
        n_keep = min(n_common, len(tokens) - 1)  # always evaluate one token to get logits
        if self.limited_swa and 0 < n_keep < self.n_past:
            # Rewinding: the SWA layers may have overwritten the cells just before n_keep, and
            # llama.cpp offers no way to ask, so always roll them back to a checkpoint.
            n_keep = self._restore(n_keep)
        if n_keep <= 0:
            if self.tokens:
                self.full_reevaluations += 1
            self.clear()
            return 0
        if not llama_cpp.llama_memory_seq_rm(self._mem, SEQ, n_keep, -1):
            self.full_reevaluations += 1
            self.clear()
            return 0
        del self.tokens[n_keep:]
        self.checkpoints = [c for c in self.checkpoints if c.n_tokens <= n_keep]
        return n_keep

    def _restore(self, n_keep: int) -> int:
        """Roll the SWA layers back to the newest checkpoint that serves `n_keep` (one taken at
        `n_keep + 1` or before: see the module docstring); return how many tokens the cache may
        keep (at most `n_keep`; the caller drops the rest), 0 if no checkpoint serves."""
        for cp in reversed(self.checkpoints):
            if cp.n_tokens > n_keep + 1 or cp.n_tokens == 0:
                continue
            done = llama_cpp.llama_state_seq_set_data_ext(
                self._ctx, cp.data, len(cp.data), SEQ, llama_cpp.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY
            )
            if done == 0:
                log.warning("could not restore a KV checkpoint; evaluating the prompt again")
                return 0
            self.restores += 1
            return min(cp.n_tokens, n_keep)
        return 0

    def checkpoint(self) -> None:
        """Snapshot the SWA layers now (the end of a prompt); a no-op for models without SWA."""
        if not self.limited_swa or not self.tokens:
            return
        flags = llama_cpp.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY
        size = llama_cpp.llama_state_seq_get_size_ext(self._ctx, SEQ, flags)
        data = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data_ext(self._ctx, data, size, SEQ, flags)
        if written != size:
            log.warning("KV checkpoint incomplete (%d of %d bytes); skipped", written, size)
            return
        self.checkpoints = [c for c in self.checkpoints if c.n_tokens != len(self.tokens)]
        self.checkpoints.append(Checkpoint(len(self.tokens), data))
        del self.checkpoints[:-MAX_CHECKPOINTS]

    def save_state(self) -> ctypes.Array[ctypes.c_uint8] | None:
        """The whole sequence's state as llama.cpp writes it (every layer's cells; with a limited
        SWA cache, the cells it still holds): restoring it continues exactly from here."""
        size = int(llama_cpp.llama_state_seq_get_size_ext(self._ctx, SEQ, 0))
        data: ctypes.Array[ctypes.c_uint8] = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data_ext(self._ctx, data, size, SEQ, 0)
        if size == 0 or written != size:
            log.warning("KV state incomplete (%d of %d bytes); not kept", written, size)
            return None
        return data

    def load_state(self, data: ctypes.Array[ctypes.c_uint8], tokens: list[int]) -> bool:
        """Replace the cache with a state from save_state() that holds exactly `tokens`.
        False (and an empty cache) if llama.cpp refuses it."""
        if self.tokens:
            self.clear()
        done = llama_cpp.llama_state_seq_set_data_ext(self._ctx, data, len(data), SEQ, 0)
        if done != len(data):
            log.warning("llama.cpp refused a saved KV state (%d of %d bytes)", done, len(data))
            self.clear()
            return False
        self.tokens = list(tokens)
        return True

    def evaluate(self, tokens: list[int], cancel: threading.Event | None = None) -> bool:
        """Feed prompt tokens in batches; False if cancelled (the cache stays consistent)."""
        for i in range(0, len(tokens), self.n_batch):
            if cancel is not None and cancel.is_set():
                return False
            chunk = tokens[i : i + self.n_batch]
            arr = (llama_cpp.llama_token * len(chunk))(*chunk)
            rc = llama_cpp.llama_decode(self._ctx, llama_cpp.llama_batch_get_one(arr, len(chunk)))
            if rc != 0:
                self.clear()
                raise EngineError(
                    "llama.cpp could not process the prompt (it may be out of memory). "
                    "Try a smaller context size or a shorter conversation."
                )
            self.tokens.extend(chunk)
        return True

    def decode_one(self, token: int) -> bool:
        self._one[0] = token
        if llama_cpp.llama_decode(self._ctx, self._one_batch) != 0:
            return False
        self.tokens.append(token)
        return True

    def checkpoint_bytes(self) -> int:
        return sum(len(c.data) for c in self.checkpoints)

    def decode_batch(self, batch: llama_cpp.llama_batch, tokens: list[int]) -> bool:
        """Decode a prepared batch holding `tokens` at the next positions (speculative drafts)."""
        if llama_cpp.llama_decode(self._ctx, batch) != 0:
            return False
        self.tokens.extend(tokens)
        return True

    def truncate(self, n_keep: int) -> bool:
        """Drop tokens[n_keep:] (rejected drafts) from the cache; False if llama.cpp refused.

        Safe with a limited sliding-window cache, as long as n_keep is past the first position of
        the last llama_decode and that decode was one micro-batch: llama.cpp only overwrites an SWA
        cell when it is masked for the position right after the cache's end *before* the batch
        (llama_kv_cache::find_slot), i.e. a cell no position from there on can attend to. Keeping
        at least that first position means nothing a later token needs was overwritten.
        """
        if n_keep >= len(self.tokens):
            return True
        if not llama_cpp.llama_memory_seq_rm(self._mem, SEQ, n_keep, -1):
            self.clear()
            return False
        del self.tokens[n_keep:]
        self.checkpoints = [c for c in self.checkpoints if c.n_tokens <= n_keep]
        return True
