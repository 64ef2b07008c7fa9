"""Make the real LlamaEngine emit a chosen token sequence: a forcing sampler for tests.

The tiny gpt-oss GGUF has random weights, so it never writes a harmony message by itself. A
ForcingSampler is a `sampler_factory` for LlamaEngine: each reply's chain starts with a llama.cpp
sampler (implemented here through llama_sampler_init's C interface) that, for the first tokens of
the reply, leaves exactly one candidate, the forced token. After the forced tokens the reply's own
chain (make_sampler) decides, so a test can force a prefix, e.g. the reasoning and the final
channel's header, and let the model (and a grammar) go on from there. Everything else is the
production path: decoding, the KV cache, the parser, stop handling, stats.

    engine, forcing = forcing_engine(tiny_gptoss_path, n_ctx=512)
    forcing.force_text(engine, "<|channel|>final<|message|>Hi<|return|>")
    events = list(engine.stream(request))
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Sequence
from pathlib import Path

import llama_cpp

from fireside.core.chat.conversation import Sampling
from fireside.core.chat.harmony import CONTROL_TOKENS
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.core.engine.sampler import make_sampler

_ids = itertools.count(1)


class ForcingSampler:
    """A LlamaEngine sampler factory whose replies start with the tokens given to `force`.

    `force(tokens)` applies to the next reply only (later replies run unforced), so a test can
    force a tool call and then check the continuation. `forced_last` is how many tokens the last
    reply actually took from the forced sequence. Anything that went wrong inside llama.cpp's
    callbacks (where an exception cannot propagate) is recorded in `errors`.
    """

    def __init__(self) -> None:
        self._pending: list[int] = []
        self._queue: list[list[int]] = []  # for the replies after the next one, in order
        self._states: dict[int, list[int]] = {}  # sampler id -> [position, *tokens]
        self.forced_last = 0
        self.errors: list[str] = []
        # One C interface for every sampler this factory makes; the callbacks must stay alive.
        self._apply_cb = llama_cpp.llama_sampler_i_apply(self._apply)
        self._accept_cb = llama_cpp.llama_sampler_i_accept(self._accept)
        self._free_cb = llama_cpp.llama_sampler_i_free(self._free)
        self._iface = llama_cpp.llama_sampler_i()
        self._iface.apply = self._apply_cb
        self._iface.accept = self._accept_cb
        self._iface.free = self._free_cb

    def force(self, tokens: Sequence[int]) -> None:
        self._pending = list(tokens)

    def force_text(self, engine: LlamaEngine, text: str) -> list[int]:
        """Force the tokens of `text` (special tokens parsed), checking each harmony token in it
        is one token, as the model would emit it."""
        tokens = engine.tokenize(text, add_special=False)
        for special in CONTROL_TOKENS:
            if special in text:
                assert len(engine.tokenize(special, add_special=False)) == 1, special
        self.force(tokens)
        return tokens

    def force_replies(self, engine: LlamaEngine, texts: Sequence[str]) -> None:
        """Force each of the next replies in turn (a tool loop's steps), then run unforced."""
        tokens = [self.force_text(engine, text) for text in texts]
        self._pending, self._queue = tokens[0], tokens[1:]

    def __call__(self, sampling: Sampling) -> llama_cpp.llama_sampler_p:
        key = next(_ids)
        if not self._pending and self._queue:
            self._pending = self._queue.pop(0)
        self._states[key] = [0, *self._pending]
        self._pending = []
        self.forced_last = 0
        forcing = llama_cpp.llama_sampler_init(ctypes.byref(self._iface), ctypes.c_void_p(key))
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(chain, forcing)
        llama_cpp.llama_sampler_chain_add(chain, make_sampler(sampling))
        return chain

    # ------------------------------------------------------------------ C callbacks
    def _state(self, smpl: llama_cpp.llama_sampler_p) -> list[int] | None:
        return self._states.get(int(smpl.contents.ctx or 0))

    def _apply(self, smpl: llama_cpp.llama_sampler_p, cur_p: llama_cpp.llama_token_data_array_p) -> None:
        state = self._state(smpl)
        if state is None or state[0] + 1 >= len(state):
            return  # nothing (more) to force: the reply's own chain decides
        token = state[state[0] + 1]
        cur = cur_p.contents
        data = cur.data
        index = token if token < cur.size and data[token].id == token else next(
            (i for i in range(cur.size) if data[i].id == token), -1)
        if index < 0:
            self.errors.append(f"forced token {token} is not among the candidates")
            return
        logit = data[index].logit
        data[0].id, data[0].logit, data[0].p = token, logit, 1.0
        cur.size = 1  # the only candidate left; greedy or dist then pick it

    def _accept(self, smpl: llama_cpp.llama_sampler_p, token: int) -> None:
        state = self._state(smpl)
        if state is not None and state[0] + 1 < len(state):
            if token != state[state[0] + 1]:
                self.errors.append(f"expected forced token {state[state[0] + 1]}, got {token}")
            state[0] += 1
            self.forced_last = state[0]

    def _free(self, smpl: llama_cpp.llama_sampler_p) -> None:
        self._states.pop(int(smpl.contents.ctx or 0), None)


def forcing_engine(path: Path, **load: object) -> tuple[LlamaEngine, ForcingSampler]:
    """A real LlamaEngine on `path` whose replies can be forced."""
    forcing = ForcingSampler()
    engine = LlamaEngine(sampler_factory=forcing)
    engine.load(str(path), LoadConfig(**load))  # type: ignore[arg-type]
    return engine, forcing
