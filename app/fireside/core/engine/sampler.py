"""llama.cpp sampler chains from our Sampling settings."""

from __future__ import annotations

from collections.abc import Callable

import llama_cpp

from fireside.core.chat.conversation import Sampling

SamplerFactory = Callable[[Sampling], "llama_cpp.llama_sampler_p"]
"""Builds the sampler chain for one reply. LlamaEngine uses make_sampler; tests may hand it another
(tests/helpers/forcing.py forces a token sequence this way). The engine frees the chain."""


def make_sampler(s: Sampling) -> llama_cpp.llama_sampler_p:
    params = llama_cpp.llama_sampler_chain_default_params()
    chain: llama_cpp.llama_sampler_p = llama_cpp.llama_sampler_chain_init(params)
    add = llama_cpp.llama_sampler_chain_add
    if s.temperature <= 0 or s.top_k == 1:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    if s.top_k > 0:
        add(chain, llama_cpp.llama_sampler_init_top_k(s.top_k))
    if s.top_p < 1.0:
        add(chain, llama_cpp.llama_sampler_init_top_p(s.top_p, 1))
    if s.min_p > 0.0:
        add(chain, llama_cpp.llama_sampler_init_min_p(s.min_p, 1))
    if s.temperature != 1.0:
        # Dividing every logit by 1.0 changes nothing but costs a pass over the vocabulary for
        # each token (201k logits for gpt-oss, whose recommended temperature is exactly 1).
        add(chain, llama_cpp.llama_sampler_init_temp(s.temperature))
    seed = s.seed if s.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
    add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain
