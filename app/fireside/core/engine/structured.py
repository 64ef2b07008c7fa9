"""Structured outputs: a JSON Schema constrains the answer through a llama.cpp grammar.

The schema becomes GBNF through llama-cpp-python's port of llama.cpp's json-schema-to-grammar.
For gpt-oss the grammar starts where the final answer's text starts, right after the final
channel's `<|message|>`; the reasoning and any tool call before it stay free. FinalChannelWatch
follows harmony's headers token by token to find that point. It replaces llama.cpp's lazy grammar
(`llama_sampler_init_grammar_lazy_patterns`) on purpose: the engine sees every token's text anyway,
the switch happens exactly where the stream parser starts routing text to the answer, and the
engine keeps control of which tokens the grammar is ever shown (see below).

Sampling under a grammar works as llama.cpp's common sampler does: draw a token as usual, ask the
grammar about that one token, and only when it is refused filter the vocabulary through the
grammar and draw again (GrammarConstraint._redraw looks at far fewer than all 262k tokens, with
the same result). The grammar is never told about a token it
refused: llama.cpp aborts the process on one, so an unsatisfiable schema becomes an EngineError.

Control tokens are banned while the grammar runs: the grammar reads their text (`<|end|>` would be
fine inside a JSON string) while the stream parser treats them as structure or hides them, so the
answer the user gets would no longer be what the grammar checked. Only the tokens that end a reply
stay, and the grammar allows them once the JSON is complete. Likewise a token must keep the
answer valid UTF-8: llama.cpp's grammar decodes bytes leniently (an overlong `C0 A2` is a quote to
it, two replacement characters to everyone else), so such a token is drawn again too.

The converter is llama-cpp-python 0.3.36's. Two things to know: its string characters included raw
control characters (a newline inside a string, which is not JSON), fixed here as llama.cpp's own
converter has it; and it does not enforce numeric bounds (minimum, maximum, multipleOf), so an
answer has the schema's shape and types but a number may lie outside its range.
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp.llama_grammar import json_schema_to_gbnf

from fireside.core.chat.conversation import Sampling
from fireside.core.engine.protocol import EngineError

_CANDIDATE = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_TokenData = llama_cpp.llama_token_data
_TokenDataPtr = ctypes.POINTER(_TokenData)
_ROOT = b"root"
# JSON strings may not hold raw control characters; the converter's `char` rule allowed them.
_LOOSE_CHAR = re.compile(r'^char ::= \[\^"\\\\\] \|', re.MULTILINE)
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


class SchemaError(EngineError):
    """A JSON Schema that cannot constrain an answer; the message says why (the CLI exits 2)."""


def schema_to_gbnf(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar for a JSON Schema; SchemaError with a readable reason if there is none."""
    if not isinstance(schema, Mapping):
        raise SchemaError("A JSON schema for structured output must be a JSON object.")
    try:
        text = json.dumps(schema)
    except (TypeError, ValueError) as e:
        raise SchemaError(f"This JSON schema is not valid JSON: {e}.") from None
    return _gbnf(text)


@functools.lru_cache(maxsize=32)
def _gbnf(text: str) -> str:
    try:
        return _LOOSE_CHAR.sub(lambda _m: _JSON_CHAR, str(json_schema_to_gbnf(text)))
    except RecursionError:
        reason = "it nests too deeply"
    except Exception as e:  # the converter reports with assert, ValueError, KeyError, TypeError...
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        if "remote schemas" in detail:
            detail = "it refers to another schema by URL ($ref), and Fireside does not fetch schemas"
        reason = f"{detail} ({type(e).__name__})" if isinstance(e, KeyError) else detail
    raise SchemaError(f"This JSON schema cannot be used for a structured answer: {reason}.")


@dataclass(frozen=True)
class GrammarTokens:
    """Per model: what may be sampled while a grammar runs (worked out once, a vocabulary scan)."""

    banned: frozenset[int]  # control, unused and structural tokens: never drawn under a grammar
    banned_index: npt.NDArray[np.intp]
    ends: frozenset[int]  # tokens that end the reply: allowed once the grammar is complete
    first_byte: npt.NDArray[np.int16]  # per token, the first byte of its text (256: never drawn)
    probes: npt.NDArray[np.int32]  # per byte value, a token that is exactly that byte (-1: none)

    @classmethod
    def scan(
        cls, vocab: llama_cpp.llama_vocab_p, structural: Iterable[int], ends: Iterable[int] | None
    ) -> GrammarTokens:
        """`structural`: tokens that are structure though not typed control (harmony's `<|end|>`).
        `ends`: the tokens allowed to end a constrained reply; None for every end-of-generation one."""
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        first_byte = np.full(n_vocab, 256, dtype=np.int16)
        probes = np.full(256, -1, dtype=np.int32)
        special: set[int] = set(structural)
        buf = ctypes.create_string_buffer(64)
        # One C call per token (262k for Gemma): control tokens are the ones with no text when
        # special tokens are not rendered; so are unused ones, which must not be drawn either.
        for t in range(n_vocab):
            n = llama_cpp.llama_token_to_piece(vocab, t, buf, 64, 0, False)
            head = buf.raw[:1]
            if n < 0:  # longer than the buffer: -n bytes
                long_buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(vocab, t, long_buf, -n, 0, False)
                head = long_buf.raw[:1]
            if n <= 0:
                special.add(t)
                continue
            b = head[0]
            first_byte[t] = b
            if n == 1 and probes[b] < 0:
                probes[b] = t
        if ends is None:
            allowed = frozenset(t for t in special if llama_cpp.llama_vocab_is_eog(vocab, t))
        else:
            allowed = frozenset(ends)
        banned = frozenset(special - allowed)
        return cls(banned, np.array(sorted(banned), dtype=np.intp), allowed, first_byte, probes)


class _Candidates:
    """A llama_token_data_array over a numpy buffer, refilled for each pass of a sampler."""

    def __init__(self, capacity: int) -> None:
        self.buf = np.zeros(capacity, dtype=_CANDIDATE)
        self._ptr = self.buf.ctypes.data_as(_TokenDataPtr)
        self.arr = llama_cpp.llama_token_data_array(self._ptr, capacity, -1, False)

    def load(self, ids: npt.NDArray[np.int32], logits: npt.NDArray[np.float32]) -> None:
        n = len(ids)
        view = self.buf[:n]
        view["id"] = ids
        view["logit"] = logits
        view["p"] = 0.0
        arr = self.arr
        # the bindings type `data` as an array; llama.cpp takes any pointer to candidates
        arr.data = self._ptr  # type: ignore[assignment]
        arr.size, arr.selected, arr.sorted = n, -1, False

    def logits(self) -> npt.NDArray[np.float32]:
        return self.buf["logit"][: self.arr.size]

    def apply(self, sampler: llama_cpp.llama_sampler_p) -> None:
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(self.arr))

    def chosen(self) -> tuple[int, float]:
        arr = self.arr
        if not 0 <= arr.selected < arr.size:
            raise EngineError("llama.cpp's sampler chose no token; this reply cannot go on.")
        item = arr.data[arr.selected]
        return int(item.id), float(item.logit)


_HEAD = 1024  # see GrammarConstraint._redraw
_NO_TOKEN_FITS = (
    "The answer cannot go on within the JSON schema: no token fits it here. Check the schema for "
    "contradictions (such as a minimum length above the maximum)."
)


class GrammarConstraint:
    """A compiled grammar that the reply's tokens follow once `active` is True. Owned by one reply."""

    def __init__(
        self, ctx: llama_cpp.llama_context_p, vocab: llama_cpp.llama_vocab_p, gbnf: str,
        tokens: GrammarTokens, piece: Callable[[int], bytes], sampling: Sampling,
    ) -> None:
        """`piece(token)`: the bytes the token adds to the reply's text. `sampling`: the reply's
        settings; a chain that keeps only the best k tokens needs only the best k allowed."""
        self._open = False
        grammar = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), _ROOT)
        if not grammar:
            raise SchemaError(
                "llama.cpp could not compile the grammar for this JSON schema. Simplify the schema "
                "(fewer nested or repeated parts) and try again."
            )
        self._grammar: llama_cpp.llama_sampler_p = grammar
        self._open = True
        self._ctx = ctx
        self._tokens = tokens
        self._piece = piece
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.active = False
        self.redraws = 0  # tokens refused and drawn again (for tests and the benchmark)
        self.checked = 0  # candidates the grammar looked at in redraws (for tests and the benchmark)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self._n_vocab = n_vocab
        self._drawable = np.ones(n_vocab, dtype=bool)
        self._drawable[tokens.banned_index] = False
        self._first_byte = tokens.first_byte
        self._ends = np.array(sorted(tokens.ends), dtype=np.int32)
        have = tokens.probes >= 0
        self._probe_bytes = np.flatnonzero(have)
        self._probe_ids = tokens.probes[have]
        self._all = _Candidates(n_vocab)
        self._probe = _Candidates(256)
        self._one = _Candidates(1)
        self._one_id = np.zeros(1, dtype=np.int32)
        self._one_logit = np.zeros(1, dtype=np.float32)
        greedy = sampling.temperature <= 0 or sampling.top_k == 1
        self._need = 1 if greedy else max(sampling.top_k, 0)  # 0: every allowed token counts

    def close(self) -> None:
        if self._open:
            self._open = False
            llama_cpp.llama_sampler_free(self._grammar)

    def __del__(self) -> None:
        self.close()

    def sample(self, base: llama_cpp.llama_sampler_p) -> int:
        """Draw the next token with the reply's own sampler chain, within the grammar."""
        # The chain's own draw, as without a grammar (which also tells the chain about it).
        token = int(llama_cpp.llama_sampler_sample(base, self._ctx, -1))
        if token in self._tokens.banned or not (self._fits_utf8(token) and self._allows(token)):
            self.redraws += 1
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(self._ctx, -1), shape=(self._n_vocab,)
            )
            token = self._redraw(base, logits)
            # The chain was told about its refused draw as well: harmless for make_sampler's
            # samplers, which keep no per-token state (a repetition penalty would see both).
            llama_cpp.llama_sampler_accept(base, token)
        if token not in self._tokens.ends:  # the reply ends there: nothing more to follow
            llama_cpp.llama_sampler_accept(self._grammar, token)
            self._utf8.decode(self._piece(token))
        return token

    def _redraw(self, base: llama_cpp.llama_sampler_p, logits: npt.NDArray[np.float32]) -> int:
        """Draw among the tokens the grammar allows (and that keep the text valid UTF-8).

        The grammar costs about a microsecond per candidate, and a pass over 262k tokens took
        longer than Gemma 270M's whole step. A token's text can only be allowed if its first byte
        is, so the grammar first looks at one single-byte token per byte value (256 candidates)
        and then only at the tokens starting with an allowed byte: at the places where the model's
        own choice is refused (a key name, a quote, a comma) that is a few hundred tokens. The
        chain then runs on the allowed ones alone, which is exactly what it does on the whole
        vocabulary with the refused ones at -inf.
        """
        self._probe.load(self._probe_ids, np.zeros(len(self._probe_ids), dtype=np.float32))
        self._probe.apply(self._grammar)
        ok_byte = np.ones(257, dtype=bool)  # bytes with no single-byte token cannot be ruled out
        ok_byte[self._probe_bytes] = np.isfinite(self._probe.logits())
        ok_byte[256] = False
        keep = ok_byte[self._first_byte] & self._drawable
        keep[self._ends] = True
        ids = np.flatnonzero(keep).astype(np.int32)
        found: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = []
        if self._need and len(ids) > 2 * _HEAD:
            # Inside a string nearly every byte is allowed. A chain that keeps the best k tokens
            # needs only the best k allowed: look at the best _HEAD candidates first; every other
            # candidate's logit is lower, so if k are allowed among them the draw is the same.
            cand_logits = logits[ids]
            part = np.argpartition(cand_logits, len(ids) - _HEAD)
            head = ids[part[len(ids) - _HEAD :]]
            found.append(self._allowed(head, logits))
            if np.count_nonzero(np.isfinite(found[0][1])) >= self._need:
                ids = head[:0]
            else:
                ids = ids[part[: len(ids) - _HEAD]]
        if len(ids):
            found.append(self._allowed(ids, logits))
        ids = np.concatenate([f[0] for f in found])
        allowed = np.concatenate([f[1] for f in found])
        finite = np.isfinite(allowed)
        ids, allowed = ids[finite], allowed[finite]
        if len(ids) == 0:
            raise EngineError(_NO_TOKEN_FITS)
        return self._draw_from(base, self._all, ids, allowed)

    def _allowed(
        self, ids: npt.NDArray[np.int32], logits: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        self._all.load(ids, logits[ids])
        self.checked += len(ids)
        return ids, self._filter(self._all, ids)

    def _filter(self, cands: _Candidates, ids: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
        """The candidates' logits with what the grammar refuses set to -inf."""
        cands.apply(self._grammar)
        return cands.logits().copy()

    def _draw_from(
        self, base: llama_cpp.llama_sampler_p, cands: _Candidates, ids: npt.NDArray[np.int32],
        allowed: npt.NDArray[np.float32],
    ) -> int:
        while True:
            cands.load(ids, allowed)
            cands.apply(base)
            token, logit = cands.chosen()
            if not math.isfinite(logit):
                raise EngineError(_NO_TOKEN_FITS)
            if token in self._tokens.ends or self._fits_utf8(token):
                return token
            allowed[np.flatnonzero(ids == token)] = -np.inf  # a UTF-8 misfit: draw again

    def _fits_utf8(self, token: int) -> bool:
        """Whether the text stays valid UTF-8 (or a valid start of it) with this token."""
        state = self._utf8.getstate()
        try:
            self._utf8.decode(self._piece(token))
            return True
        except UnicodeDecodeError:
            return False
        finally:
            self._utf8.setstate(state)

    def _allows(self, token: int) -> bool:
        """Whether the grammar accepts `token` next (the grammar filters a one-token list)."""
        self._one_id[0] = token
        self._one.load(self._one_id, self._one_logit)
        self._one.apply(self._grammar)
        return bool(self._one.buf["logit"][0] != -np.inf)


_START, _END, _MESSAGE, _CHANNEL, _CONSTRAIN = (
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>"
)


class FinalChannelWatch:
    """Follows harmony's message headers in generated text to find where the final answer begins.

    Generation starts inside a header (the prompt ends with `<|start|>assistant`). `feed` returns
    True for the token that ends the header of a `final` message with no recipient, that is the
    `<|message|>` after which the stream parser routes text to the answer. Mirrors the parser's
    reading of headers: `<|end|>` and `<|start|>` begin a new header, as does `<|channel|>` inside
    content (a model that skips `<|end|><|start|>`); a recipient (`to=...`) makes a tool call and a
    role other than assistant makes a message that is not the answer.
    """

    def __init__(self) -> None:
        self._header: list[str] | None = []  # None: inside a message's content

    def feed(self, text: str) -> bool:
        header = self._header
        if header is None:
            if text in (_END, _START):
                self._header = []
            elif text == _CHANNEL:
                self._header = [text]
            return False
        if text == _MESSAGE:
            self._header = None
            return _opens_final("".join(header))
        if text in (_END, _START):
            self._header = []
        else:
            header.append(text)
        return False


def _opens_final(header: str) -> bool:
    role_part, _, rest = header.partition(_CHANNEL)
    rest = rest.partition(_CONSTRAIN)[0]
    role_words = role_part.partition(_CONSTRAIN)[0].split()
    channel_words = rest.split()
    if any(w.startswith("to=") for w in role_words + channel_words):
        return False
    role = next(iter(role_words), "")
    channel = next(iter(channel_words), "")
    return role in ("", "assistant") and channel == "final"
