"""A seeded mutator for GGUF files, and a runner that pushes each variant through Fireside.

Variants of a real GGUF (the tiny gpt-oss, Gemma 3 270M): truncations, flipped header and
metadata bytes, absurd counts and string lengths, hyperparameters set to impossible values, tensor
shapes and types changed, and flips anywhere. Each variant goes first through the pure-Python
checks in this process (read_gguf); the ones they accept go through the child-process load check
(check_loads, llama.cpp's own loader in a throwaway child); the ones that pass that too are run
through the real CLI (`fireside chat`, a real load and one token). Any traceback, crash, hang, or
exit other than 0 or 2 (with one line on stderr) is a failure.

Used by tests/core/models/test_gguf_fuzz.py (about 100 variants of each model) and by
`python -m tests.helpers.gguf_fuzz` (the full count: 2,000 tiny + 500 Gemma).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fireside.core.models.gguf_info import GGUFError, read_gguf
from fireside.core.models.load_check import check_loads

_SCALAR = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
# `fireside` as the installed command runs it (fireside.cli has no __main__ module on main today)
FIRESIDE_CLI = (sys.executable, "-c", "import sys; from fireside.cli import main; sys.exit(main())")
ABSURD_U64 = (
    0,
    1,
    2,
    7,
    255,
    4096,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    1 << 40,
    1 << 62,
    (1 << 63) - 1,
    (1 << 64) - 1,
)
ABSURD_INT = (
    0,
    1,
    2,
    3,
    5,
    6,
    7,
    31,
    33,
    64,
    100,
    511,
    512,
    513,
    1023,
    1024,
    1025,
    65535,
    65536,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
)
ABSURD_FLOAT = (0.0, -0.0, -1.0, 1e-30, 1e30, float("inf"), float("-inf"), float("nan"))


@dataclass
class Layout:
    """Where the fields of a GGUF header are (offsets into the file)."""

    size: int
    data_start: int
    counts: list[tuple[int, int]] = field(default_factory=list)  # (offset, u64 value): lengths, counts
    scalars: list[tuple[int, int, str]] = field(default_factory=list)  # (offset, type, key) of KV scalars
    type_fields: list[int] = field(default_factory=list)  # u32 value-type / tensor-type offsets
    dims: list[tuple[int, int]] = field(default_factory=list)  # (offset, u64 value) of tensor dims
    n_dims: list[int] = field(default_factory=list)  # u32 offsets
    tensor_offsets: list[tuple[int, int]] = field(default_factory=list)


def layout(path: Path) -> Layout:
    data = path.read_bytes() if path.stat().st_size < 1 << 20 else _prefix(path)
    pos = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    lay = Layout(size=path.stat().st_size, data_start=0)
    lay.counts += [(8, n_tensors), (16, n_kv)]

    def string() -> None:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        lay.counts.append((pos, n))
        pos += 8 + n

    for _ in range(n_kv):
        key_start = pos + 8
        string()
        key = data[key_start:pos].decode("utf-8", "replace")
        (vtype,) = struct.unpack_from("<I", data, pos)
        lay.type_fields.append(pos)
        pos += 4
        if vtype in _SCALAR:
            lay.scalars.append((pos, vtype, key))
            pos += struct.calcsize(_SCALAR[vtype])
        elif vtype == 8:
            string()
        else:  # array
            (itype, count) = struct.unpack_from("<IQ", data, pos)
            lay.type_fields.append(pos)
            lay.counts.append((pos + 4, count))
            pos += 12
            if itype == 8:
                for i in range(count):
                    if i < 50 or i % 997 == 0:
                        string()
                    else:
                        (n,) = struct.unpack_from("<Q", data, pos)
                        pos += 8 + n
            else:
                pos += count * struct.calcsize(_SCALAR[itype])
    for _ in range(n_tensors):
        string()
        (nd,) = struct.unpack_from("<I", data, pos)
        lay.n_dims.append(pos)
        pos += 4
        for _ in range(nd):
            lay.dims.append((pos, struct.unpack_from("<Q", data, pos)[0]))
            pos += 8
        lay.type_fields.append(pos)
        lay.tensor_offsets.append((pos + 4, struct.unpack_from("<Q", data, pos + 4)[0]))
        pos += 12
    lay.data_start = -(-pos // 32) * 32
    return lay


def _prefix(path: Path) -> bytes:
    """Enough of a large file to hold its header (a 262k-token vocabulary is a few MB)."""
    with path.open("rb") as fh:
        return fh.read(32 << 20)


@dataclass(frozen=True)
class Variant:
    kind: str
    patches: tuple[tuple[int, bytes], ...] = ()
    truncate: int | None = None

    def describe(self) -> str:
        where = ", ".join(f"@{o}:{b.hex()[:24]}" for o, b in self.patches[:4])
        return (
            f"{self.kind}{' to ' + str(self.truncate) if self.truncate is not None else ''} {where}".strip()
        )


def _flip(rng: random.Random, lo: int, hi: int, n: int) -> tuple[tuple[int, bytes], ...]:
    return tuple((o, bytes([rng.randrange(256)])) for o in (rng.randrange(lo, hi) for _ in range(n)))


def mutate(lay: Layout, rng: random.Random) -> Variant:
    kind = rng.choice(
        (
            "truncate",
            "flip_header",
            "flip_meta",
            "absurd_count",
            "hparam",
            "hparam",
            "tensor",
            "type",
            "flip_any",
        )
    )
    if kind == "truncate":
        end = rng.randrange(lay.data_start) if rng.random() < 0.6 else rng.randrange(lay.size)
        return Variant(kind, truncate=end)
    if kind == "flip_header":
        return Variant(kind, _flip(rng, 0, 24, rng.randint(1, 3)))
    if kind == "flip_meta":
        return Variant(kind, _flip(rng, 24, lay.data_start, rng.randint(1, 4)))
    if kind == "absurd_count":
        off, value = rng.choice(lay.counts)
        new = rng.choice((*ABSURD_U64, value + 1, max(0, value - 1), value * 2, value + 1000))
        return Variant(kind, ((off, struct.pack("<Q", new % (1 << 64))),))
    if kind == "hparam":
        off, vtype, key = rng.choice(lay.scalars)
        fmt = _SCALAR[vtype]
        if vtype in (6, 12):
            raw = struct.pack(fmt, rng.choice(ABSURD_FLOAT))
        elif vtype == 7:
            raw = bytes([rng.randrange(256)])
        else:
            bits = struct.calcsize(fmt) * 8
            raw = (rng.choice(ABSURD_INT) % (1 << bits)).to_bytes(bits // 8, "little")
        return Variant(f"hparam {key}", ((off, raw),))
    if kind == "tensor":
        if rng.random() < 0.7:
            off, value = rng.choice(lay.dims)
            new = rng.choice(
                (0, 1, 2, value - 1, value + 1, value * 2, value // 2, 1 << 31, 1 << 40, (1 << 64) - 1)
            )
            return Variant("tensor dim", ((off, struct.pack("<Q", new % (1 << 64))),))
        if rng.random() < 0.5:
            return Variant(
                "tensor n_dims",
                ((rng.choice(lay.n_dims), struct.pack("<I", rng.choice((0, 1, 2, 3, 4, 5, 1 << 31)))),),
            )
        off, value = rng.choice(lay.tensor_offsets)
        return Variant(
            "tensor offset",
            ((off, struct.pack("<Q", rng.choice((0, 32, value + 32, value - 32, 1 << 40)) % (1 << 64))),),
        )
    if kind == "type":
        return Variant(
            kind,
            (
                (
                    rng.choice(lay.type_fields),
                    struct.pack("<I", rng.choice((0, 1, 4, 8, 9, 12, 13, 39, 40, 255, 1 << 31))),
                ),
            ),
        )
    return Variant(kind, _flip(rng, 0, lay.size, rng.randint(1, 8)))


def _copy_range(src: Path, dst: Path, start: int, end: int) -> None:
    with src.open("rb") as fin, dst.open("r+b") as fout:
        off = start
        while off < end:  # an in-kernel copy
            n = os.copy_file_range(fin.fileno(), fout.fileno(), end - off, off, off)
            if n <= 0:
                raise OSError(f"copy_file_range stopped at {off} of {end}")
            off += n


def write_variant(src: Path, dst: Path, v: Variant) -> None:
    """A fresh copy of src with the variant applied."""
    dst.write_bytes(b"")
    _copy_range(src, dst, 0, os.path.getsize(src) if v.truncate is None else v.truncate)
    _apply(dst, v)


def _apply(path: Path, v: Variant) -> None:
    size = os.path.getsize(path) if v.truncate is None else v.truncate
    if v.truncate is not None:
        os.truncate(path, v.truncate)
    with path.open("r+b") as fh:
        for at, raw in v.patches:
            if at < size:
                os.pwrite(fh.fileno(), raw[: size - at], at)


class Workbench:
    """One working copy of a large model, patched for each variant and restored after: a 250 MB
    Gemma is copied once, not 500 times. Each variant gets its own name (the load check's cache
    is keyed by path, size and modification time)."""

    def __init__(self, src: Path, work: Path) -> None:
        self.src, self.size = src, os.path.getsize(src)
        self.current = work / f"work-{src.stem}.gguf"
        write_variant(src, self.current, Variant("copy"))

    def place(self, v: Variant, name: Path) -> None:
        with self.current.open("rb") as fh:
            self._undo = [
                (at, os.pread(fh.fileno(), len(raw), at)) for at, raw in v.patches if at < self.size
            ]
        _apply(self.current, v)
        os.replace(self.current, name)
        self._placed, self._variant = name, v

    def intact(self) -> bool:
        """The working copy is byte-identical to the source again (checked once, at the end)."""
        with self.src.open("rb") as a, self.current.open("rb") as b:
            while chunk := a.read(1 << 24):
                if chunk != b.read(len(chunk)):
                    return False
            return not b.read(1)

    def restore(self) -> None:
        os.replace(self._placed, self.current)
        if self._variant.truncate is not None:
            _copy_range(self.src, self.current, self._variant.truncate, self.size)
        with self.current.open("r+b") as fh:
            for at, raw in reversed(self._undo):
                if at < self.size:
                    os.pwrite(fh.fileno(), raw, at)


@dataclass
class FuzzReport:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cli_runs: int = 0
    check_seconds: list[float] = field(default_factory=list)
    header_verdicts: dict[bytes, str] = field(default_factory=dict)  # header hash -> refusal ("" ok)
    reused: int = 0  # child verdicts reused for a variant whose header matched an earlier one

    def summary(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        total = sum(self.counts.values())
        checks, failures = len(self.check_seconds), len(self.failures)
        return (f"{total} variants in {self.seconds:.0f} s ({parts}); {checks} child checks, "
                f"{self.reused} verdicts reused for an identical header; failures: {failures}")


def _one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip() and "Traceback" not in message


def run_cli(model: Path, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRESIDE_HOME": str(home)}
    return subprocess.run(
        [
            *FIRESIDE_CLI,
            "chat",
            "--model",
            str(model),
            "--max-tokens",
            "1",
            "--no-save",
            "--ctx",
            "256",
            "Hi",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def fuzz(
    src: Path,
    n: int,
    seed: int,
    work: Path,
    home: Path,
    *,
    cli_limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """n variants of src; at most cli_limit of the survivors of both checks go through the CLI."""
    t_start = time.perf_counter()
    rng = random.Random(seed)
    lay = layout(src)
    report = FuzzReport()
    work.mkdir(parents=True, exist_ok=True)
    cache = home / "cache"
    bench = Workbench(src, work)
    for i in range(n):
        v = mutate(lay, rng)
        path = work / f"variant-{seed}-{i}.gguf"
        bench.place(v, path)
        what = f"variant {i} ({v.describe()})"
        try:
            outcome = _judge(path, what, cache, home, report, cli_limit, lay.data_start)
        except Exception:
            outcome = "failure"
            report.failures.append(f"{what}: {traceback.format_exc(limit=6)}")
        finally:
            bench.restore()
        report.counts[outcome] += 1
        report.seconds = time.perf_counter() - t_start
        if progress and (i + 1) % 50 == 0:
            progress(f"{i + 1}/{n}: {report.summary()}")
    if not bench.intact():
        report.failures.append("the fuzzer's working copy was not restored (a bug in the fuzzer)")
    bench.current.unlink()
    report.seconds = time.perf_counter() - t_start
    return report


def _judge(path: Path, what: str, cache: Path, home: Path, report: FuzzReport, cli_limit: int | None,
           data_start: int) -> str:
    t0 = time.perf_counter()
    try:
        read_gguf(path)
    except GGUFError as e:
        if not _one_line(str(e)):
            report.failures.append(f"{what}: Python check message is not one line: {e!r}")
            return "failure"
        return "refused by the Python checks"
    finally:
        if time.perf_counter() - t0 > 20:
            report.failures.append(f"{what}: the Python check took {time.perf_counter() - t0:.0f} s")
    # The child loads with no_alloc and reads no weight: its verdict depends only on the header
    # bytes and the file size. A variant that differs from an earlier one only in its weights
    # (most flips anywhere) gets that one's verdict instead of another child.
    with path.open("rb") as fh:
        header = hashlib.sha256(fh.read(data_start)).digest() + struct.pack("<Q", os.path.getsize(path))
    known = report.header_verdicts.get(header)
    if known is not None:
        report.reused += 1
        if known:
            return "refused by llama.cpp in the child"
    else:
        t0 = time.perf_counter()
        try:
            verdict = check_loads(path, cache)
        except GGUFError as e:
            report.check_seconds.append(time.perf_counter() - t0)
            report.header_verdicts[header] = str(e)
            if "still reading" in str(e) or not _one_line(str(e)):
                report.failures.append(f"{what}: child check: {e}")
                return "failure"
            return "refused by llama.cpp in the child"
        report.header_verdicts[header] = ""
        report.check_seconds.append(verdict.seconds)
    if cli_limit is not None and report.cli_runs >= cli_limit:
        return "passed both checks (CLI not run)"
    report.cli_runs += 1
    r = run_cli(path, home)
    if "Traceback" in r.stderr or r.returncode not in (0, 2):
        report.failures.append(f"{what}: fireside chat exited {r.returncode}: {r.stderr[-1500:]}")
        return "failure"
    if r.returncode == 2:
        if not _one_line(r.stderr):
            report.failures.append(f"{what}: exit 2 with more than one line: {r.stderr[-1500:]}")
            return "failure"
        return "CLI exit 2 (one line)"
    return "CLI exit 0"


def main(argv: list[str] | None = None) -> int:
    """The full count: `python -m tests.helpers.gguf_fuzz` (2,000 tiny + 500 Gemma, every survivor
    through the CLI); `--tiny N --gemma N --cli-limit N --seed S` for a smaller or different run."""
    import argparse
    import tempfile

    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    ap = argparse.ArgumentParser(prog="python -m tests.helpers.gguf_fuzz")
    ap.add_argument("--tiny", type=int, default=2000)
    ap.add_argument("--gemma", type=int, default=500)
    ap.add_argument("--cli-limit", type=int, default=None, help="CLI runs per model (default: all)")
    ap.add_argument("--seed", type=int, default=1000, help="the CI test uses seeds 1 and 2")
    args = ap.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="fireside-fuzz-") as tmp:
        os.environ["FIRESIDE_HOME"] = str(Path(tmp) / "home")
        for name, src, n, seed in (
            ("tiny gpt-oss", cached_tiny_gptoss(), args.tiny, args.seed),
            ("Gemma 3 270M", cached_gemma(), args.gemma, args.seed + 1),
        ):
            if n <= 0:
                continue
            report = fuzz(src, n, seed, Path(tmp) / "work", Path(tmp) / "home", cli_limit=args.cli_limit,
                          progress=lambda s, name=name: print(f"  {name}: {s}", flush=True))
            checks = sorted(report.check_seconds)
            median = checks[len(checks) // 2] if checks else 0.0
            print(f"{name}: {report.summary()}; CLI runs {report.cli_runs}; child check median "
                  f"{median:.2f} s over {len(checks)} new files", flush=True)
            for f in report.failures:
                print("  FAIL", f, flush=True)
            failed += len(report.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
