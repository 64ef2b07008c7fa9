"""The models the engine benchmarks run on, and how to drive LlamaEngine for a fixed length.

Three models, because they stress different things: the tiny gpt-oss (a few hundred KB, so
almost all time is per-token overhead: Python, sampling over a vocabulary, the parser), Gemma 3
270M (a real small model with a 262k vocabulary) and the gpt-oss-20b shape (what users run:
memory-bandwidth bound, ~2.6 GB read per token).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import Done, Event
from fireside.core.engine import llama_engine
from fireside.core.engine.llama_engine import LlamaEngine


@dataclass(frozen=True)
class BenchModel:
    name: str
    path: Path


def bench_models(quick: bool, *, include_20b: bool = True) -> list[BenchModel]:
    """Tiny gpt-oss and Gemma always; the 20b shape in full mode (built on first use, ~12 GB)."""
    from tests.helpers.gemma import cached_gemma
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    models = [BenchModel("tiny-gpt-oss", cached_tiny_gptoss()), BenchModel("gemma-3-270m", cached_gemma())]
    if not quick and include_20b:
        from tests.benchmarks.shape20b import cached_shape20b

        models.append(BenchModel("gpt-oss-20b-shape", cached_shape20b()))
    return models


_EOG: dict[int, list[int]] = {}


def control_tokens(engine: LlamaEngine) -> list[int]:
    """End-of-generation and control tokens (a chat template's turn markers end a reply too)."""
    vocab = engine._vocab
    return [t for t in range(llama_cpp.llama_vocab_n_tokens(vocab))
            if llama_cpp.llama_vocab_is_eog(vocab, t) or llama_cpp.llama_vocab_is_control(vocab, t)]


def eog_tokens(engine: LlamaEngine) -> list[int]:
    """End-of-generation token ids (a scan of the vocabulary: ~90 ms for 262k, so cached)."""
    vocab = engine._vocab
    key = llama_cpp.llama_vocab_n_tokens(vocab) * 1_000_003 + llama_cpp.llama_vocab_eos(vocab)
    if key not in _EOG:
        _EOG[key] = [t for t in range(llama_cpp.llama_vocab_n_tokens(vocab))
                     if llama_cpp.llama_vocab_is_eog(vocab, t)]
    return _EOG[key]


@contextlib.contextmanager
def no_end_tokens(engine: LlamaEngine, banned: list[int] | None = None) -> Iterator[None]:
    """Ban end-of-generation tokens so a reply always runs to max_tokens, like llama-bench's tg.

    The app's own sampler chain (make_sampler) runs unchanged, nested inside a chain that first
    sets the logits of the EOG tokens (or of `banned`) to -inf: one extra, cheap sampler step per
    token.
    """
    banned = eog_tokens(engine) if banned is None else banned
    original = llama_engine.make_sampler
    n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)

    def make(s: Sampling) -> llama_cpp.llama_sampler_p:
        biases = (llama_cpp.llama_logit_bias * len(banned))()
        for i, t in enumerate(banned):
            biases[i].token = t
            biases[i].bias = -float("inf")
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(
            chain, llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(banned), biases))
        llama_cpp.llama_sampler_chain_add(chain, original(s))
        return chain

    llama_engine.make_sampler = make  # type: ignore[assignment]
    try:
        yield
    finally:
        llama_engine.make_sampler = original  # type: ignore[assignment]


_FILL = " the"  # one token in every vocabulary we use (a BPE merge in the tiny vocab)


def request_with_tokens(engine: LlamaEngine, n_tokens: int, *, max_tokens: int,
                        sampling: Sampling | None = None, history: tuple[Message, ...] = ()) -> ChatRequest:
    """A one-turn request whose rendered, tokenized prompt is exactly `n_tokens` long."""
    def req(k: int) -> ChatRequest:
        return ChatRequest(messages=(*history, Message("user", "Hello" + _FILL * k)),
                           max_tokens=max_tokens, sampling=sampling)

    base = engine.count_prompt_tokens(req(0))
    k = max(0, n_tokens - base)
    for _ in range(8):
        n = engine.count_prompt_tokens(req(k))
        if n == n_tokens:
            return req(k)
        k = max(0, k + n_tokens - n)
    raise RuntimeError(f"could not build a prompt of exactly {n_tokens} tokens (got {n})")


def run_reply(engine: LlamaEngine, request: ChatRequest) -> tuple[Done, int]:
    """Stream one reply; return its Done event and how many events came before it."""
    events: list[Event] = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done), "the engine must end every reply with Done"
    return done, len(events) - 1

