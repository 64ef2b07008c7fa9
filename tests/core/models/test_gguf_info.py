"""GGUF validation: damaged files are named, never handed to llama.cpp (which would abort)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import gguf
import pytest

from fireside.core.models.gguf_info import GGML_TYPES, GGUFError, read_gguf


def _duplicate_a_token(src: Path, dst: Path) -> tuple[str, str]:
    """Flip one byte so that one vocabulary entry becomes a copy of another."""
    info = read_gguf(src)
    tokens = info.tokens
    seen = {t for t in tokens}
    data = bytearray(src.read_bytes())
    for t in tokens:
        raw = t.encode("utf-8")
        if len(raw) < 2:
            continue
        for i in range(len(raw)):
            for b in range(0x61, 0x7B):
                cand = raw[:i] + bytes([b]) + raw[i + 1 :]
                try:
                    text = cand.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                if text != t and text in seen:
                    needle = struct.pack("<Q", len(raw)) + raw
                    at = data.find(needle)
                    assert at > 0
                    data[at + 8 + i] = b
                    dst.write_bytes(bytes(data))
                    return t, text
    raise AssertionError("no token could be turned into a duplicate with one byte")


def test_reads_real_metadata(tiny_gptoss_path: Path, gemma_path: Path):
    tiny = read_gguf(tiny_gptoss_path)
    assert tiny.architecture == "gpt-oss" and tiny.is_harmony
    assert tiny.quantization == "MXFP4"
    assert tiny.arch_key("attention.sliding_window") == 4
    gemma = read_gguf(gemma_path)
    assert gemma.architecture == "gemma3" and not gemma.is_harmony
    assert gemma.context_length == 32768
    assert gemma.chat_template == ""
    assert 250e6 < gemma.n_parameters < 300e6


def test_type_table_matches_gguf_package():
    for type_id, (name, block, size) in GGML_TYPES.items():
        qtype = gguf.GGMLQuantizationType(type_id)
        assert qtype.name == name
        assert gguf.GGML_QUANT_SIZES[qtype] == (block, size)


def test_duplicated_vocab_entry_is_caught_before_llama_cpp_aborts(
    tiny_gptoss_path: Path, tmp_path: Path
):
    bad = tmp_path / "dup.gguf"
    original, copy = _duplicate_a_token(tiny_gptoss_path, bad)
    with pytest.raises(GGUFError, match="twice"):
        read_gguf(bad)
    # What the check protects against: llama.cpp itself kills the whole process on this file.
    probe = (
        "import llama_cpp, sys\n"
        "from fireside.core.engine.devices import load_backends\n"
        "load_backends()\n"  # a build with backend modules has no device until they are loaded
        "llama_cpp.llama_backend_init()\n"
        "p = llama_cpp.llama_model_default_params()\n"
        f"llama_cpp.llama_model_load_from_file({str(bad)!r}.encode(), p)\n"
        "print('survived')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode < 0 or proc.returncode > 1, (original, copy, proc.returncode)
    assert "survived" not in proc.stdout


def test_truncated_file_is_named_incomplete(gemma_path: Path, tmp_path: Path):
    cut = tmp_path / "cut.gguf"
    with gemma_path.open("rb") as fh:
        cut.write_bytes(fh.read(gemma_path.stat().st_size - 1000))
    with pytest.raises(GGUFError, match="incomplete"):
        read_gguf(cut)
    header_only = tmp_path / "header.gguf"
    with gemma_path.open("rb") as fh:
        header_only.write_bytes(fh.read(200))
    with pytest.raises(GGUFError, match="truncated"):
        read_gguf(header_only)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a GGUF"),
        (b"PK\x03\x04" + b"\0" * 100, "not a GGUF"),
        (b"GGUF" + struct.pack("<I", 99) + b"\0" * 40, "version 99"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0) + b"\0" * 40, "impossible"),
    ],
)
def test_garbage_headers(tmp_path: Path, content: bytes, match: str):
    p = tmp_path / "x.gguf"
    p.write_bytes(content)
    with pytest.raises(GGUFError, match=match):
        read_gguf(p)


def test_missing_and_folder(tmp_path: Path):
    with pytest.raises(GGUFError, match="No file"):
        read_gguf(tmp_path / "nope.gguf")
    with pytest.raises(GGUFError, match="folder"):
        read_gguf(tmp_path)
