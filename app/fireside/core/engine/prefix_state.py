"""Shared-prefix KV states: evaluate a conversation's fixed opening once, reuse it in every chat.

Every new chat starts with the same system message and developer message (instructions and tool
definitions): ten MCP tools add some 2,000 tokens, almost two minutes of prompt processing for
gpt-oss-20b on a laptop CPU. The engine evaluates that prefix once, takes llama.cpp's state of the
sequence right there (`llama_state_seq_get_data_ext`, flags 0: every layer's K and V cells; for a
model with sliding-window attention this is the full cache of the global layers *and* the cells
the sliding-window cache still holds, which are exactly the window the next token attends to),
and keeps it:

- in memory, least recently used first out, up to `DEFAULT_MEMORY_BYTES`;
- on disk in Fireside's cache folder (`<cache>/prefix-states/`, one `.kvprefix` file per prefix),
  up to `DEFAULT_DISK_BYTES`, oldest use first out, so a restart (or the next `fireside chat`)
  starts where the last one left off.

An entry is keyed by everything its bytes depend on: the model file (real path, size, mtime),
llama-cpp-python's version, the context parameters that shape or compute the cache (context size,
batch sizes, K/V types, flash attention, full or windowed SWA, GPU layers, tensor overrides), the
LoRA adapter set with its scales, and the exact prefix tokens. The file repeats the key and the
tokens in its header and carries a SHA-256 of the state; a file that is short, long, foreign or
damaged is a miss and is deleted. llama.cpp may abort on malformed state, so no byte reaches it
before these checks pass. Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import logging
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from fireside.core.config.paths import user_cache_dir
from fireside.core.engine.kv_cache import PrefixCache
from fireside.core.engine.protocol import LoadConfig

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BYTES = 256 << 20  # ~4 tool-laden gpt-oss-20b prefixes (about 64 MB each)
DEFAULT_DISK_BYTES = 2 << 30
MIN_PREFIX_TOKENS = 64  # shorter prefixes cost less to evaluate than to store
FOLDER = "prefix-states"
SUFFIX = ".kvprefix"
MAGIC = b"FIRESIDE-KVPREFIX\x00\x01\x00"
_HEADER_MAX = 1 << 20
_STALE_TMP_S = 600.0  # a temporary file older than this is a crashed writer's

State = ctypes.Array[ctypes.c_uint8]


def entry_key(identity: dict[str, object], adapters: object, tokens: Sequence[int]) -> str:
    """The hex key of a prefix state: context identity, adapter set and exact tokens."""
    h = hashlib.sha256()
    h.update(json.dumps(identity, sort_keys=True).encode())
    h.update(repr(adapters).encode())
    h.update(_token_bytes(tokens))
    return h.hexdigest()


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(tokens)}i", *tokens)


@dataclass
class StoreStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    writes: int = 0
    dropped: int = 0  # damaged or unusable files deleted


class PrefixStore:
    """Prefix states in memory and (when `directory` is set) on disk, both bounded, LRU."""

    def __init__(self, directory: Path | None, *, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                 disk_bytes: int = DEFAULT_DISK_BYTES) -> None:
        self.directory = directory
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self.stats = StoreStats()
        self._memory: OrderedDict[str, tuple[tuple[int, ...], State]] = OrderedDict()

    @classmethod
    def default(cls) -> PrefixStore:
        """The store in Fireside's cache folder (FIRESIDE_HOME honoured)."""
        return cls(user_cache_dir() / FOLDER)

    @property
    def enabled(self) -> bool:
        return self.memory_bytes > 0 or self.directory is not None

    # ------------------------------------------------------------------ lookup
    def get(self, key: str, tokens: Sequence[int]) -> State | None:
        wanted = tuple(tokens)
        held = self._memory.get(key)
        if held is not None and held[0] == wanted:
            self._memory.move_to_end(key)
            self.stats.memory_hits += 1
            return held[1]
        data = self._read(key, wanted)
        if data is None:
            self.stats.misses += 1
            return None
        self.stats.disk_hits += 1
        self._remember(key, wanted, data)
        return data

    def put(self, key: str, tokens: Sequence[int], data: State) -> None:
        wanted = tuple(tokens)
        self._remember(key, wanted, data)
        self._write(key, wanted, data)

    def forget(self, key: str) -> None:
        """Drop an entry llama.cpp refused, from memory and disk."""
        self._memory.pop(key, None)
        if self.directory is not None:
            self._delete(self.directory / (key + SUFFIX))

    def memory_usage(self) -> int:
        return sum(len(d) for _, d in self._memory.values())

    def disk_usage(self) -> int:
        return sum(size for _, size, _ in self._files())

    # ------------------------------------------------------------------ memory
    def _remember(self, key: str, tokens: tuple[int, ...], data: State) -> None:
        if len(data) > self.memory_bytes:
            return
        self._memory[key] = (tokens, data)
        self._memory.move_to_end(key)
        total = self.memory_usage()
        while total > self.memory_bytes and self._memory:
            _, (_, old) = self._memory.popitem(last=False)
            total -= len(old)

    # -------------------------------------------------------------------- disk
    def _read(self, key: str, tokens: tuple[int, ...]) -> State | None:
        if self.directory is None:
            return None
        path = self.directory / (key + SUFFIX)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                data = self._read_checked(fh, size, key, tokens)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as e:
            log.warning("prefix state %s is unusable (%s); deleting it", path.name, e)
            data = None
        if data is None:
            self.stats.dropped += 1
            self._delete(path)
            return None
        try:
            os.utime(path)  # most recently used: pruned last
        except OSError:
            pass
        return data

    @staticmethod
    def _read_checked(fh: io.BufferedReader, size: int, key: str, tokens: tuple[int, ...]) -> State | None:
        """The state if every check passes: magic, header, key, tokens, exact size, checksum."""
        if fh.read(len(MAGIC)) != MAGIC:
            return None
        raw = fh.read(4)
        if len(raw) != 4:
            return None
        (n_header,) = struct.unpack("<I", raw)
        if n_header > _HEADER_MAX:
            return None
        header = json.loads(fh.read(n_header).decode("utf-8"))
        if not isinstance(header, dict) or header.get("key") != key:
            return None
        n_tokens, n_state = header.get("n_tokens"), header.get("state_bytes")
        if n_tokens != len(tokens) or not isinstance(n_state, int) or n_state <= 0:
            return None
        if size != len(MAGIC) + 4 + n_header + 4 * n_tokens + n_state:
            return None  # truncated, or something appended
        if fh.read(4 * n_tokens) != _token_bytes(tokens):
            return None
        data = (ctypes.c_uint8 * n_state)()
        if fh.readinto(data) != n_state:
            return None
        if hashlib.sha256(data).hexdigest() != header.get("sha256"):
            return None
        return data

    def _write(self, key: str, tokens: tuple[int, ...], data: State) -> None:
        if self.directory is None:
            return
        token_bytes = _token_bytes(tokens)
        header = json.dumps({"key": key, "n_tokens": len(tokens), "state_bytes": len(data),
                             "sha256": hashlib.sha256(data).hexdigest(),
                             "written": time.time()}).encode()
        total = len(MAGIC) + 4 + len(header) + len(token_bytes) + len(data)
        if total > self.disk_bytes:
            return
        path = self.directory / (key + SUFFIX)
        tmp = self.directory / f".{key}.{os.getpid()}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._prune(self.disk_bytes - total)
            with open(tmp, "wb") as fh:
                fh.write(MAGIC + struct.pack("<I", len(header)) + header + token_bytes)
                fh.write(memoryview(data))
            os.replace(tmp, path)
            self.stats.writes += 1
        except OSError as e:
            log.warning("could not save a prefix state in %s: %s", self.directory, e)
            self._delete(tmp)

    def _files(self) -> list[tuple[Path, int, float]]:
        """(path, size, mtime) of every entry and temporary file, oldest use first."""
        assert self.directory is not None
        found = []
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return []
        for entry in entries:
            if not (entry.name.endswith(SUFFIX) or entry.name.endswith(".tmp")):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            found.append((Path(entry.path), st.st_size, st.st_mtime))
        return sorted(found, key=lambda f: f[2])

    def _prune(self, budget: int) -> None:
        """Delete the least recently used entries (and crashed writers' leftovers) until the
        folder holds at most `budget` bytes."""
        files = self._files()
        now = time.time()
        total = 0
        for path, size, mtime in files:
            if path.name.endswith(".tmp") and now - mtime > _STALE_TMP_S:
                self._delete(path)
            else:
                total += size
        for path, size, _ in files:
            if total <= budget:
                break
            if path.name.endswith(SUFFIX):
                self._delete(path)
                total -= size

    @staticmethod
    def _delete(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass


def context_identity(path: str, config: LoadConfig,
                     cparams: llama_cpp.llama_context_params) -> dict[str, object]:
    """What a saved KV state depends on besides adapters and tokens (the module docstring)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return {"model": [real, st.st_size, st.st_mtime_ns], "llama_cpp": llama_cpp.__version__,
            "n_ctx": cparams.n_ctx, "n_batch": cparams.n_batch, "n_ubatch": cparams.n_ubatch,
            "type_k": cparams.type_k, "type_v": cparams.type_v,
            "flash_attn": cparams.flash_attn_type, "swa_full": bool(cparams.swa_full),
            "n_gpu_layers": config.n_gpu_layers, "cpu_tensors": list(config.cpu_tensor_patterns)}


def shared_prefix(tokens: Sequence[int], opening: Sequence[int]) -> int:
    """How many tokens of the prompt belong to its shared opening: the common prefix of the prompt
    and the same request rendered without messages (system and developer messages, tools), never
    the whole prompt (one token is always evaluated for the logits)."""
    n = 0
    for a, b in zip(tokens, opening, strict=False):
        if a != b:
            break
        n += 1
    return min(n, len(tokens) - 1)


def evaluate_prompt(cache: PrefixCache, store: PrefixStore | None, identity: dict[str, object],
                    tokens: list[int], n_prefix: int,
                    cancel: threading.Event | None = None) -> tuple[int, bool]:
    """Bring the KV cache to hold `tokens` and checkpoint it; return (tokens not evaluated here,
    whether it completed: False when cancelled).

    The prompt's shared opening `tokens[:n_prefix]` is restored from the store when the cache
    does not hold it. On a miss it is evaluated on its own, its state stored and at once restored:
    llama.cpp's results depend on which cells hold which positions (the sliding-window cache is a
    ring, and flash attention sums in cell order), and a restore lays the cells out anew, so a
    chat continues from the same layout whether its opening was stored or not, bit for bit. For
    the same reason no SWA checkpoint is taken at the opening: a new chat rewinding there gets the
    full state back from the store (memory first) rather than a partial restore.
    """
    reused = cache.prepare(tokens)
    if store is None or not store.enabled or n_prefix < MIN_PREFIX_TOKENS or reused >= n_prefix:
        return reused, cache.evaluate(tokens[reused:], cancel) and _checkpointed(cache)
    prefix = tokens[:n_prefix]
    key = entry_key(identity, cache.key, prefix)
    data = store.get(key, prefix)
    if data is not None:
        if cache.load_state(data, prefix):
            reused = n_prefix
        else:
            store.forget(key)
            store.stats.dropped += 1
            reused = 0
    if reused < n_prefix:
        if not cache.evaluate(tokens[reused:n_prefix], cancel):
            return reused, False
        state = cache.save_state()
        if state is not None:
            store.put(key, prefix, state)
            if not cache.load_state(state, prefix):
                store.forget(key)
                return 0, cache.evaluate(tokens, cancel) and _checkpointed(cache)
    return reused, cache.evaluate(tokens[n_prefix:], cancel) and _checkpointed(cache)


def _checkpointed(cache: PrefixCache) -> bool:
    cache.checkpoint()
    return True
