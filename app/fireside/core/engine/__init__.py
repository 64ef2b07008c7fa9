"""Engines that produce replies: the protocol and llama.cpp in-process (KV cache, sampler, devices)."""
