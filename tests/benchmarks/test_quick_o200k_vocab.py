"""The 20b-shape benchmark model tokenizes like gpt-oss: llama.cpp, given the vocabulary that
shape20b.build_vocab writes, splits text into the same tokens as the o200k_base reference encoder,
and harmony's control tokens keep their real ids."""

from __future__ import annotations

import warnings
from typing import Any

import llama_cpp
import pytest

from tests.benchmarks import shape20b
from tests.benchmarks.common import BENCH_CACHE
from tests.helpers import tiny_gptoss as tiny
from tests.helpers.model_cache import cached_file

TEXTS = (
    "Hello world, namespace functions {",
    "  def f(x):\n\treturn x**2  # squared\n\n",
    "Ünïcödé 日本語のテキスト 🙂🙂 ñandú",
    "12345678901234 3.14159 1,000,000",
    "I'm sure they've said WE'LL go",
    "https://example.com/a?b=c&d=e",
    "// Reads a file.\ntype read_file = (_: {\n// Path to the file\npath: string,\n}) => any;",
)


@pytest.fixture(scope="module")
def vocab_model() -> llama_cpp.Llama:
    """The 20b shape's vocabulary, opened vocab-only by llama.cpp."""
    target = BENCH_CACHE / f"o200k-vocab-{shape20b.shape20b_path().stem}.gguf"
    path = cached_file(target, shape20b.write_vocab_only)
    return llama_cpp.Llama(str(path), vocab_only=True, verbose=False)


def _reference_encoder() -> object:
    with warnings.catch_warnings():  # the package's own use of importlib.resources.open_binary
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding("o200k_base")


def test_text_splits_into_gpt_oss_tokens(vocab_model: llama_cpp.Llama) -> None:
    reference: Any = _reference_encoder()
    for text in TEXTS:
        assert vocab_model.tokenize(text.encode(), add_bos=False, special=False) == \
            reference.encode_ordinary(text), text


def test_harmony_control_tokens_have_their_real_ids(vocab_model: llama_cpp.Llama) -> None:
    ids = vocab_model.tokenize(b"<|start|>assistant<|channel|>final<|message|>Hi<|end|>",
                               add_bos=False, special=True)
    real = tiny.REAL_SPECIAL_TOKEN_IDS
    assert ids[0] == real["<|start|>"] == 200006
    assert ids[2] == real["<|channel|>"] and ids[4] == real["<|message|>"]
    assert ids[-1] == real["<|end|>"]
    assert vocab_model.n_vocab() == shape20b.N_VOCAB
