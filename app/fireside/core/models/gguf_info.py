"""Read and validate a GGUF file in pure Python before llama.cpp ever sees it.

llama.cpp aborts the whole process (GGML_ASSERT) on some malformed files, e.g. a vocabulary with a
duplicated entry, so the GUI process must never hand it a file that has not passed these checks.
Every read here is bounded by the file's size; nothing can allocate or loop without limit.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fireside.core.units import human_bytes

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_DIMS = 4
MAX_NAME = 64  # GGML_MAX_NAME, with its terminating NUL
MAX_STRING = 64 * 1024 * 1024  # a chat template or merges entry is never anywhere near this

# ggml type id -> (name, elements per block, bytes per block); mirrors ggml.h / gguf-py.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}

# llama_ftype (general.file_type) -> the name people know the file by, e.g. Q4_K_M
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4",
}

# GGUF metadata value types
_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

HARMONY_TOKENS = ("<|start|>", "<|message|>", "<|channel|>", "<|end|>", "<|return|>")


class GGUFError(ValueError):
    """The file is not a usable GGUF; the message says why in words a person understands."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int
    n_bytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.type_id][0]

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFInfo:
    """What Fireside needs to know about a model file, without loading it."""

    path: Path
    version: int
    file_size: int
    metadata: dict[str, Any] = field(repr=False)
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    # metadata key -> GGUF value type (4 uint32, 6 float32, 8 string, 9 array, ...): llama.cpp
    # asserts on the type of some keys (an adapter's alpha must be a float32), so checks need it
    value_types: dict[str, int] = field(default_factory=dict, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def arch_key(self, suffix: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}", default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def context_length(self) -> int:
        return int(self.arch_key("context_length", 0) or 0)

    @property
    def chat_template(self) -> str:
        return str(self.metadata.get("tokenizer.chat_template") or "")

    @property
    def tokens(self) -> list[str]:
        return list(self.metadata.get("tokenizer.ggml.tokens") or [])

    @property
    def is_harmony(self) -> bool:
        """gpt-oss speaks harmony; recognise it by architecture or by its control tokens."""
        if self.architecture == "gpt-oss":
            return True
        vocab = set(self.metadata.get("tokenizer.ggml.tokens") or ())
        return all(t in vocab for t in HARMONY_TOKENS)

    @property
    def n_parameters(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    def summary(self) -> str:
        """What a person wants to know about a model file, on a few lines."""
        params = self.n_parameters
        size = f"{params / 1e9:.1f} billion" if params >= 1e9 else f"{params / 1e6:.0f} million"
        trained = f"{self.context_length:,} tokens" if self.context_length else "not stated"
        return (
            f"{self.name}\nArchitecture: {self.architecture or 'unknown'} · {size} parameters · "
            f"{self.quantization}\nTrained context: {trained} · File: {human_bytes(self.file_size)}"
            f"\n{self.path}"
        )

    @property
    def quantization(self) -> str:
        """The file's declared quantization (e.g. MXFP4, Q4_K_M), else its most common tensor type."""
        declared = self.metadata.get("general.file_type")
        if isinstance(declared, int) and declared in FILE_TYPES:
            return FILE_TYPES[declared]
        by_bytes: Counter[str] = Counter()
        for t in self.tensors:
            by_bytes[t.type_name] += t.n_bytes
        return by_bytes.most_common(1)[0][0] if by_bytes else "unknown"


_U64 = struct.Struct("<Q")


class _Reader:
    """Bounded reads: every length is checked against what is left in the file."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size

    def left(self) -> int:
        return self.size - self.fh.tell()

    def read(self, n: int) -> bytes:
        if n < 0 or n > self.left():
            raise GGUFError("The file ends too early: it looks truncated (an incomplete download?).")
        return self.fh.read(n)

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise GGUFError("The file's metadata is damaged (a text entry has an impossible length).")
        try:
            return self.read(n).decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError("The file's metadata is damaged (text that is not valid UTF-8).") from None

    def _strings(self, count: int) -> list[str]:
        """A string array (a 200k-token vocabulary) in one tight loop: the same bounds checks as
        string(), without a tell() and two calls per entry (Gemma's 262k tokens: 0.34 s -> 0.13 s)."""
        read, size, pos = self.fh.read, self.size, self.fh.tell()
        length = _U64.unpack
        raw: list[bytes] = []
        for _ in range(count):
            if size - pos < 8:
                raise GGUFError("The file ends too early: it looks truncated (an incomplete download?).")
            (n,) = length(read(8))
            if n > MAX_STRING:
                raise GGUFError("The file's metadata is damaged (a text entry has an impossible length).")
            pos += 8
            if n > size - pos:
                raise GGUFError("The file ends too early: it looks truncated (an incomplete download?).")
            raw.append(read(n))
            pos += n
        try:
            return [b.decode("utf-8") for b in raw]
        except UnicodeDecodeError:
            raise GGUFError("The file's metadata is damaged (text that is not valid UTF-8).") from None

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY and depth == 0:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            min_item = 8 if item_type == _STRING else struct.calcsize(_SCALARS.get(item_type, "<B"))
            if count * min_item > self.left():
                raise GGUFError("The file's metadata is damaged (an array is longer than the file).")
            if item_type in _SCALARS and item_type != 7:
                fmt = _SCALARS[item_type]
                raw = self.read(count * struct.calcsize(fmt))
                return list(struct.unpack(f"<{count}{fmt[1]}", raw))
            if item_type == _STRING:
                return self._strings(count)
            return [self.value(item_type, depth + 1) for _ in range(count)]
        raise GGUFError(f"The file's metadata is damaged (unknown value type {vtype}).")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse and validate; raise GGUFError with a one-line reason for anything llama.cpp would trip on."""
    p = Path(path)
    if not p.exists():
        raise GGUFError(f"No file at {p}.")
    if p.is_dir():
        raise GGUFError(f"{p} is a folder, not a model file.")
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            info = _parse(p, fh, size)
    except OSError as e:
        raise GGUFError(f"Could not read {p.name}: {e.strerror or e}.") from None
    _check_vocab(info)
    from fireside.core.models.gguf_checks import check_model  # it needs GGUFInfo from here

    if why := check_model(info):
        raise GGUFError(why)
    return info


def _parse(p: Path, fh: BinaryIO, size: int) -> GGUFInfo:
    r = _Reader(fh, size)
    if size < 24 or r.read(4) != MAGIC:
        raise GGUFError(f"{p.name} is not a GGUF model file.")
    version = r.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFError(f"{p.name} uses GGUF version {version}, which Fireside cannot read.")
    n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
    if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
        raise GGUFError(f"{p.name} has a damaged header (impossible tensor or metadata count).")
    metadata: dict[str, Any] = {}
    value_types: dict[str, int] = {}
    for _ in range(n_kv):
        key = r.string()
        if not key:
            raise GGUFError(f"{p.name} has damaged metadata (an entry without a name).")
        if key in metadata:
            raise GGUFError(f"{p.name} has damaged metadata (the key {key!r} appears twice).")
        value_types[key] = vtype = r.unpack("<I")
        metadata[key] = r.value(vtype)
    raw_tensors = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.unpack("<I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFError(f"{p.name} is damaged (tensor {name!r} has {n_dims} dimensions).")
        shape = tuple(r.unpack("<Q") for _ in range(n_dims))
        type_id, offset = r.unpack("<I"), r.unpack("<Q")
        if name in names:
            raise GGUFError(f"{p.name} is damaged (the tensor {name!r} appears twice).")
        names.add(name)
        raw_tensors.append((name, shape, type_id, offset))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{p.name} has a damaged header (alignment {alignment!r}).")
    data_start = -(-fh.tell() // alignment) * alignment
    tensors = []
    expected_offset = 0  # gguf.cpp: the tensors lie one after another, each padded to the alignment
    for name, shape, type_id, offset in raw_tensors:
        if len(name.encode("utf-8")) >= MAX_NAME:
            raise GGUFError(f"{p.name} is damaged (a tensor name is {len(name)} characters long).")
        if type_id not in GGML_TYPES:
            raise GGUFError(
                f"{p.name} uses a tensor type ({type_id}) this version of Fireside does not know."
            )
        _, block, type_size = GGML_TYPES[type_id]
        n = 1
        for d in shape:
            if d <= 0 or d > 1 << 40:
                raise GGUFError(f"{p.name} is damaged (tensor {name!r} has shape {shape}).")
            n *= d
        if shape[0] % block:
            raise GGUFError(f"{p.name} is damaged (tensor {name!r} does not fill whole blocks).")
        n_bytes = n // block * type_size
        if offset % alignment:
            raise GGUFError(f"{p.name} is damaged (tensor {name!r} is misaligned).")
        if offset != expected_offset:
            raise GGUFError(f"{p.name} is damaged (tensor {name!r} is not where the file's index says).")
        expected_offset += -(-n_bytes // alignment) * alignment
        if data_start + offset + n_bytes > size:
            raise GGUFError(
                f"{p.name} is incomplete: it ends before its last tensor "
                f"({size:,} bytes on disk). Download or copy it again."
            )
        tensors.append(TensorInfo(name, shape, type_id, offset, n_bytes))
    if not tensors:
        raise GGUFError(f"{p.name} contains no weights.")
    return GGUFInfo(p, version, size, metadata, tuple(tensors), value_types)


def _check_vocab(info: GGUFInfo) -> None:
    """The tokenizer checks llama.cpp asserts on (and so would kill the app) instead of reporting."""
    name = info.path.name
    tokens = info.metadata.get("tokenizer.ggml.tokens")
    if tokens is None:
        return
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise GGUFError(f"{name} has a damaged vocabulary.")
    if len(set(tokens)) != len(tokens):
        dup = next(t for t, c in Counter(tokens).items() if c > 1)
        raise GGUFError(
            f"{name} is damaged: its vocabulary lists the token {dup!r} twice. "
            "The file was probably corrupted in transfer; download it again."
        )
    for key in ("tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
        values = info.metadata.get(key)
        if values is not None and (not isinstance(values, list) or len(values) != len(tokens)):
            raise GGUFError(f"{name} has a damaged vocabulary ({key.rsplit('.', 1)[1]} mismatch).")
    for key in (
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id",
    ):
        tid = info.metadata.get(key)
        if isinstance(tid, int) and not 0 <= tid < len(tokens) and tid != 0xFFFFFFFF:
            raise GGUFError(f"{name} has a damaged vocabulary ({key.rsplit('.', 1)[1]} out of range).")
    embd = next((t for t in info.tensors if t.name == "token_embd.weight"), None)
    if embd is not None and len(embd.shape) >= 2 and embd.shape[1] != len(tokens):
        raise GGUFError(f"{name} is damaged: its vocabulary does not match its embedding table.")
