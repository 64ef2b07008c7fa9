"""LlamaEngine: llama.cpp in-process through llama-cpp-python's C bindings.

We drive llama.cpp's C API directly rather than the high-level `Llama` class: that class keeps a
numpy copy of the logits (n_batch x n_vocab floats, 400 MB for gpt-oss's 201k vocabulary) and
rebuilds its sampler for every token; here the sampler chain samples straight from llama.cpp's
logits and the per-token Python work is a dict lookup and a parser step.

KV reuse: the prompt prefix that is already in the cache is not evaluated again. gpt-oss (and
Gemma 3) use sliding-window attention on some layers; with `swa_full=False` those layers keep only
the last window of positions, so a cache that ran past the window cannot be rewound. The engine
saves a small snapshot of the sliding-window cache at the end of every prompt (a "checkpoint",
as llama.cpp's server does) and restores it when the next turn rewinds there. See kv_cache.py.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import llama_cpp

from fireside.core.chat import harmony
from fireside.core.chat.chat_template import PLAIN_STOPS
from fireside.core.chat.conversation import ChatRequest, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.chat.prompting import format_note, prompt_format, render, template_tokens
from fireside.core.chat.text_stream import PlainStreamParser
from fireside.core.chat.token_counter import TokenCounter
from fireside.core.engine.devices import devices, gpu_absent_reason, load_backends
from fireside.core.engine.kv_cache import PrefixCache
from fireside.core.engine.llama_log import install_log_handler
from fireside.core.engine.lora import LoraSet, in_effect
from fireside.core.engine.prefix_state import (
    PrefixStore,
    context_identity,
    evaluate_prompt,
    shared_prefix,
)
from fireside.core.engine.protocol import (
    BadModelFile,
    ContextOverflow,
    EngineError,
    LoadConfig,
    ModelInfo,
    ModelLoadError,
)
from fireside.core.engine.sampler import SamplerFactory, make_sampler
from fireside.core.engine.speculative import DraftRecord, Speculator
from fireside.core.engine.structured import (
    FinalChannelWatch,
    GrammarConstraint,
    GrammarTokens,
    schema_to_gbnf,
)
from fireside.core.engine.tensor_overrides import cpu_overrides
from fireside.core.models.fit_planner import Plan, detect_machine, plan_fit, profile_from_gguf
from fireside.core.models.gguf_info import GGUFError, GGUFInfo, read_gguf
from fireside.core.models.load_check import check_loads

log = logging.getLogger(__name__)

_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            install_log_handler()
            load_backends()  # the CPU and GPU backend modules, before llama.cpp looks for them
            llama_cpp.llama_backend_init()
            reason = gpu_absent_reason()
            if reason:
                log.info("%s", reason)
            _backend_ready = True


CTX_PAD = 256  # llama.cpp's KV cells come in blocks of this many
_MESSAGE_END = "<|end|>"  # harmony: every message but the last ends with this special token
_MESSAGE_CACHE_MAX = 4096  # remembered message tokenizations (see _tokenize_by_message)


def _fit_warning(plan: Plan | None) -> str:
    if plan is None or plan.fits:
        return ""
    return f"This model may not fit in this computer's memory: {plan.reason}"


def _assign(struct: ctypes.Structure, **values: object) -> None:
    """Set C struct fields, refusing names the bindings do not have.

    ctypes silently accepts any attribute, so a field renamed upstream (use_mmap became load_mode)
    would otherwise be ignored without a word.
    """
    known = {name for name, *_ in type(struct)._fields_}
    for name, value in values.items():
        if name not in known:
            raise ModelLoadError(
                f"This build of llama-cpp-python has no “{name}” setting; reinstall Fireside."
            )
        setattr(struct, name, value)


def placement(n_gpu_layers: int, n_layer: int, n_cpu_moe: int = 0) -> str:
    """Where the model runs, for the status bar: "GPU (Vulkan: NAME), 24 of 24 layers" or "CPU".

    llama.cpp offloads the last `n_gpu_layers` repeating layers (all for -1) to the GPU devices
    it found; with no GPU device it runs everything on the CPU whatever was asked.
    """
    gpus = [d for d in devices() if d.is_gpu]
    on_gpu = n_layer if n_gpu_layers < 0 else min(n_gpu_layers, n_layer)
    if not gpus or on_gpu <= 0:
        return "CPU"
    gpu = gpus[0]
    where = f"GPU ({gpu.kind}: {gpu.description or gpu.name}), {on_gpu} of {n_layer} layers"
    if n_cpu_moe > 0:
        where += f", experts of {min(n_cpu_moe, n_layer)} in RAM"
    return where


def _software_vulkan() -> bool:
    """True when the GPU llama.cpp would use is a CPU-type Vulkan device (lavapipe, llvmpipe)."""
    gpus = [d for d in devices() if d.is_gpu]
    return bool(gpus) and gpus[0].kind == "Vulkan" and "llvmpipe" in gpus[0].description.lower()


def _AMX_IN_BUILD() -> bool:
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def _naming_adapters(events: Iterator[Event], labels: tuple[str, ...]) -> Iterator[Event]:
    """The events, with the adapters that produced the reply named in its stats."""
    for event in events:
        yield Done(replace(event.stats, adapters=labels)) if isinstance(event, Done) else event


class LlamaEngine:
    """One model, one context, one sequence. Owned by a single worker thread.

    `sampler_factory` builds each reply's sampler chain (default: make_sampler, looked up per
    reply). Tests pass their own, e.g. tests/helpers/forcing.py's, to make the real engine
    emit a chosen token sequence; the generation loop is the same either way.
    """

    def __init__(self, sampler_factory: SamplerFactory | None = None,
                 prefix_store: PrefixStore | None = None) -> None:
        self._sampler_factory = sampler_factory
        # Shared-prefix KV states (prefix_state.py); None: none (the live KV cache is still
        # reused); the window, the CLI and the server pass PrefixStore.default()
        self._prefix_store = prefix_store
        self._identity: dict[str, object] = {}  # what a stored state depends on besides tokens
        self._opening: tuple[str, list[int]] = ("", [])  # _opening_tokens
        self._model: llama_cpp.llama_model_p | None = None
        self._ctx: llama_cpp.llama_context_p | None = None
        self._vocab: llama_cpp.llama_vocab_p | None = None
        self._info: ModelInfo | None = None
        self._gguf: GGUFInfo | None = None
        self._config = LoadConfig()
        self._cache: PrefixCache | None = None
        self._lora: LoraSet | None = None  # LoRA adapters loaded for this model (lora.py)
        self._pieces: dict[int, bytes] = {}  # token -> what the parser sees (_visible_piece)
        self._eog: dict[int, bool] = {}  # token -> is end-of-generation (_is_eog)
        self._barriers: dict[int, bool] = {}  # token -> drafts stop here (_is_barrier)
        self._draft_record = DraftRecord()  # speculation's back-off, across this model's replies
        self._message_tokens: dict[tuple[bool, str], tuple[int, ...]] = {}  # _tokenize_by_message
        self._last_prompt: tuple[str, tuple[int, ...]] = ("", ())  # _text_tokens
        self._grammar_tokens: GrammarTokens | None = None  # per model, on the first schema
        self._token_buf = (llama_cpp.llama_token * 1)()

    # ----------------------------------------------------------------- loading
    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def cache(self) -> PrefixCache | None:
        return self._cache

    @property
    def load_config(self) -> LoadConfig | None:
        """The settings the loaded model runs with, after the fit plan and the device's own
        adjustments (flash attention off on a software Vulkan device); None when none is loaded."""
        return self._config if self._info is not None else None

    def load(self, path: str, config: LoadConfig | None = None) -> ModelInfo:
        config = config or LoadConfig()
        try:
            gguf = read_gguf(path)  # checks that cannot crash, before llama.cpp sees the file
            check_loads(path)  # then llama.cpp itself, in a child process (cached per file)
        except GGUFError as e:  # the loaded model, if any, stays loaded
            raise BadModelFile(str(e)) from None
        _init_backend()
        self.unload()
        plan = None
        if config.auto_fit:
            plan = plan_fit(profile_from_gguf(gguf), detect_machine(), max_ctx=config.n_ctx or None)
            config = replace(config, n_ctx=plan.n_ctx, n_gpu_layers=plan.n_gpu_layers,
                             cpu_tensor_patterns=plan.overrides, swa_full=False)
            log.info("fit plan for %s: %s (%s)", path, plan.badge, plan.reason)
        elif config.n_ctx <= 0:
            config = replace(config, n_ctx=LoadConfig().n_ctx)
        if config.flash_attn and config.n_gpu_layers != 0 and _software_vulkan():
            # Mesa's lavapipe (22.3) crashes in llama.cpp's Vulkan flash-attention shaders on
            # short batches (SIGSEGV at the first sample); without flash attention it is exact.
            config = replace(config, flash_attn=False)
            log.info("flash attention off: the Vulkan device is Mesa's software rasteriser")
        mparams = llama_cpp.llama_model_default_params()
        _assign(
            mparams,
            n_gpu_layers=config.n_gpu_layers,
            load_mode=llama_cpp.LLAMA_LOAD_MODE_MMAP if config.use_mmap else llama_cpp.LLAMA_LOAD_MODE_NONE,
        )
        if _AMX_IN_BUILD():
            # ggml's AMX kernels segfault on some CPUs/VMs (llama.cpp #20824); our own builds
            # leave them out, and a native build from elsewhere must not take the app down.
            _assign(mparams, use_extra_bufts=False)
        overrides = cpu_overrides(config.cpu_tensor_patterns)  # must outlive the load call
        if overrides is not None:
            _assign(mparams, tensor_buft_overrides=overrides.pointer)
        model = llama_cpp.llama_model_load_from_file(str(Path(path)).encode("utf-8"), mparams)
        del overrides
        if not model:
            arch = gguf.architecture or "unknown"
            raise ModelLoadError(
                f"llama.cpp could not load {Path(path).name} (architecture “{arch}”). The file may "
                "be for a newer llama.cpp, or damaged. Try another download of the model."
            )
        n_ctx_train = llama_cpp.llama_model_n_ctx_train(model)
        n_ctx = min(config.n_ctx, n_ctx_train) if n_ctx_train > 0 else config.n_ctx
        if n_ctx >= CTX_PAD:
            # llama.cpp rounds the context UP to whole 256-cell blocks; round down first so a
            # ceiling (an admin's max_context, the user's setting) is never exceeded.
            n_ctx -= n_ctx % CTX_PAD
        cparams = llama_cpp.llama_context_default_params()
        _assign(
            cparams,
            n_ctx=n_ctx,
            n_batch=min(config.n_batch, n_ctx),
            n_ubatch=min(config.n_batch, n_ctx),
            n_seq_max=1,
            n_threads=config.threads(),
            n_threads_batch=config.threads(),
            flash_attn_type=(
                llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
                if config.flash_attn
                else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            ),
            swa_full=config.swa_full,
            no_perf=True,
        )
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise ModelLoadError(
                f"There is not enough memory for a {n_ctx:,}-token context with this model. "
                "Choose a smaller context size and load it again."
            )
        self._model, self._ctx, self._gguf, self._config = model, ctx, gguf, config
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._pieces = {}
        self._eog = {}
        self._barriers = {}
        self._draft_record = DraftRecord()
        self._message_tokens = {}
        self._last_prompt = ("", ())
        self._opening = ("", [])
        self._grammar_tokens = None
        n_swa = llama_cpp.llama_model_n_swa(model)
        self._cache = PrefixCache(ctx, n_swa=n_swa, swa_full=config.swa_full)
        self._identity = context_identity(path, config, cparams)
        self._lora = LoraSet(model, ctx, gguf)
        self._info = ModelInfo(
            path=str(path),
            name=gguf.name,
            architecture=gguf.architecture,
            prompt_format=prompt_format(gguf),
            n_ctx=llama_cpp.llama_n_ctx(ctx),
            n_ctx_train=n_ctx_train,
            size_bytes=gguf.file_size,
            note=" ".join(x for x in (format_note(gguf), _fit_warning(plan)) if x),
            fit=plan.badge if plan else "",
            device=placement(config.n_gpu_layers, llama_cpp.llama_model_n_layer(model),
                             plan.n_cpu_moe if plan else len(config.cpu_tensor_patterns)),
        )
        log.info("loaded %s (%s, n_ctx=%d, n_swa=%d, %s)", path, self._info.prompt_format, n_ctx,
                 n_swa, self._info.device)
        return self._info

    @property
    def lora(self) -> LoraSet | None:
        return self._lora

    @property
    def prefix_store(self) -> PrefixStore | None:
        return self._prefix_store

    def unload(self) -> None:
        if self._lora is not None:
            self._lora.free()
            self._lora = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
        if self._model:
            llama_cpp.llama_model_free(self._model)
        self._ctx = self._model = self._vocab = None
        self._info = self._gguf = self._cache = None

    def __del__(self) -> None:
        try:
            self.unload()
        except Exception:
            pass

    # ----------------------------------------------------------------- prompts
    def _require(self) -> tuple[llama_cpp.llama_context_p, ModelInfo, PrefixCache]:
        if not self._ctx or self._info is None or self._cache is None:
            raise EngineError("No model is loaded. Open a model file first.")
        return self._ctx, self._info, self._cache

    def render_prompt(self, request: ChatRequest) -> str:
        _, info, _ = self._require()
        assert self._gguf is not None
        return render(self._gguf, request, info.prompt_format)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        return len(self._prompt_tokens(request))

    def _prompt_tokens(self, request: ChatRequest) -> list[int]:
        return self._text_tokens(self.render_prompt(request))

    def _opening_tokens(self, request: ChatRequest) -> list[int]:
        """The tokens of the conversation's shared opening (system and developer messages,
        tools: the prompt without messages), remembered for the next chat; [] if the template
        refuses a conversation without messages."""
        try:
            text = self.render_prompt(replace(request, messages=()))
        except EngineError:
            return []
        if text != self._opening[0]:
            self._opening = (text, self._text_tokens(text))
        return self._opening[1]

    def _text_tokens(self, text: str) -> list[int]:
        """The prompt's tokens. The last prompt's are remembered: the API server counts a
        request's tokens (to answer 400 when it does not fit) and then streams it, and
        tokenizing Gemma's plain 3,200-token transcript takes ~4 ms of CPU each time."""
        if text == self._last_prompt[0] and text:
            return list(self._last_prompt[1])
        info = self._info
        tokens = (self.tokenize(text) if info is None or not info.is_harmony
                  else self._tokenize_by_message(text))
        self._last_prompt = (text, tuple(tokens))
        return tokens

    def _tokenize_by_message(self, text: str) -> list[int]:
        """Tokenize a harmony prompt one message at a time, remembering each message's tokens.

        Every turn re-renders the whole conversation, and tokenizing all of it again took ~60 ms
        at 4,000 tokens (more than the model needed for the new tokens on small models, and
        growing with the chat). llama.cpp splits text at special tokens before running BPE on the
        pieces in between, so cutting after each `<|end|>` gives exactly the tokens of the whole
        text; only the messages not seen before are tokenized.
        """
        tokens: list[int] = []
        start = 0
        while start < len(text):
            i = text.find(_MESSAGE_END, start)
            end = len(text) if i < 0 else i + len(_MESSAGE_END)
            key = (start == 0, text[start:end])
            cached = self._message_tokens.get(key)
            if cached is None:
                if len(self._message_tokens) >= _MESSAGE_CACHE_MAX:
                    self._message_tokens.clear()
                cached = self._message_tokens[key] = tuple(self.tokenize(key[1], add_special=key[0]))
            tokens += cached
            start = end
        return tokens

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        self._require()
        assert self._vocab is not None
        data = text.encode("utf-8")
        add_bos = add_special and bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        if add_bos and self._gguf is not None:
            bos = template_tokens(self._gguf).bos
            if bos and text.startswith(bos):
                add_bos = False  # the template already wrote it
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, add_bos, True)
        if n < 0:
            buf = (llama_cpp.llama_token * -n)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, -n, add_bos, True)
        return list(buf[:n])

    def _visible_piece(self, token: int, harmony_mode: bool) -> bytes:
        """The bytes the parser may see for a token, worked out once per token per model.

        Harmony's structural tokens must reach the parser as text; every other control token
        (gpt-oss's <|reserved_...|> fillers, another model's <end_of_turn>) becomes b"" here, so a
        sampled stray control token can never reach the screen. Cached because this runs for
        every generated token.
        """
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, True)
            piece = buf.raw[:n]
            if llama_cpp.llama_vocab_is_control(self._vocab, token) and not (
                harmony_mode and piece.decode("utf-8", "replace") in harmony.CONTROL_TOKENS
            ):
                piece = b""
            self._pieces[token] = piece
        return piece

    def _is_eog(self, token: int) -> bool:
        """llama_vocab_is_eog, remembered per token: a dict lookup instead of a C call per token."""
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
        return eog

    def _is_barrier(self, token: int) -> bool:
        """Speculative drafts stop before this token: any control or end token (harmony's too)."""
        barrier = self._barriers.get(token)
        if barrier is None:
            harmony_mode = self._info is not None and self._info.is_harmony  # as in the loop
            piece = self._visible_piece(token, harmony_mode).decode("utf-8", "replace")
            barrier = self._barriers[token] = (
                self._is_eog(token) or bool(llama_cpp.llama_vocab_is_control(self._vocab, token))
                or piece in harmony.CONTROL_TOKENS)
        return barrier

    def _speculator(self, ctx: llama_cpp.llama_context_p, cache: PrefixCache,
                    sampler: llama_cpp.llama_sampler_p, constraint: GrammarConstraint | None,
                    ) -> Speculator | None:
        """Prompt-lookup speculation for this reply, unless off, or a grammar or a test's own
        sampler decides tokens (their exactness under batched verification is not proven)."""
        if not self._config.speculative or constraint is not None or self._sampler_factory:
            return None
        return Speculator(ctx, cache, sampler, self._is_barrier, self._draft_record)

    # -------------------------------------------------------------- generation
    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        ctx, info, cache = self._require()
        t_start = time.perf_counter()
        tokens = self._prompt_tokens(request)
        n_ctx = info.n_ctx
        if len(tokens) >= n_ctx - 1:
            raise ContextOverflow.for_prompt(len(tokens), n_ctx)
        constraint = self._constraint(ctx, info, request)  # a bad schema fails here, before any event
        labels = self._attach_adapters(request, cache)
        events = self._generate(ctx, info, cache, tokens, request, cancel, t_start, constraint,
                                shared_prefix(tokens, self._opening_tokens(request)))
        return _naming_adapters(events, labels) if labels else events

    def _attach_adapters(self, request: ChatRequest, cache: PrefixCache) -> tuple[str, ...]:
        """Attach the request's LoRA adapters (loaded once per model) and key the KV cache by
        them: cells computed under another set or scale are never reused. EngineError when one
        cannot be used, before any event."""
        assert self._lora is not None
        cache.use_key(self._lora.apply(request.adapters))
        return tuple(u.label for u in in_effect(request.adapters))

    def _constraint(
        self, ctx: llama_cpp.llama_context_p, info: ModelInfo, request: ChatRequest
    ) -> GrammarConstraint | None:
        """The grammar for request.json_schema (None without one); SchemaError if it has none."""
        if request.json_schema is None:
            return None
        gbnf = schema_to_gbnf(request.json_schema)
        assert self._vocab is not None
        if self._grammar_tokens is None:
            if info.is_harmony:
                # <|end|> and friends are structure even where the vocabulary does not type them
                # control; a reply under a grammar may end only with <|return|>.
                ids = {t: self.tokenize(t, add_special=False) for t in harmony.CONTROL_TOKENS}
                structural = [v[0] for v in ids.values() if len(v) == 1]
                ends: list[int] | None = ids["<|return|>"] if len(ids["<|return|>"]) == 1 else None
                self._grammar_tokens = GrammarTokens.scan(self._vocab, structural, ends)
            else:
                self._grammar_tokens = GrammarTokens.scan(self._vocab, (), None)
        harmony_mode = info.is_harmony
        return GrammarConstraint(ctx, self._vocab, gbnf, self._grammar_tokens,
                                 lambda token: self._visible_piece(token, harmony_mode),
                                 request.sampling or Sampling.for_model(harmony_mode))

    def _generate(
        self,
        ctx: llama_cpp.llama_context_p,
        info: ModelInfo,
        cache: PrefixCache,
        tokens: list[int],
        request: ChatRequest,
        cancel: threading.Event | None,
        t_start: float,
        constraint: GrammarConstraint | None = None,
        n_prefix: int = 0,
    ) -> Iterator[Event]:
        try:
            yield from self._generate_steps(
                ctx, info, cache, tokens, request, cancel, t_start, constraint, n_prefix)
        finally:
            if constraint is not None:
                constraint.close()

    def _generate_steps(
        self,
        ctx: llama_cpp.llama_context_p,
        info: ModelInfo,
        cache: PrefixCache,
        tokens: list[int],
        request: ChatRequest,
        cancel: threading.Event | None,
        t_start: float,
        constraint: GrammarConstraint | None,
        n_prefix: int,
    ) -> Iterator[Event]:
        harmony_mode = info.prompt_format == "harmony"
        parser: harmony.StreamParser | PlainStreamParser = (
            harmony.StreamParser()
            if harmony_mode
            else PlainStreamParser(PLAIN_STOPS if info.prompt_format == "plain" else ())
        )
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        reused, done = evaluate_prompt(cache, self._prefix_store, self._identity, tokens, n_prefix,
                                       cancel)
        if not done:
            yield Done(ReplyStats(prompt_tokens=len(tokens), reused_prompt_tokens=reused,
                                  total_s=time.perf_counter() - t_start, stop_reason="cancelled"))
            return
        factory = self._sampler_factory or make_sampler
        sampler = factory(request.sampling or Sampling.for_model(harmony_mode))
        # Structured output: gpt-oss reasons freely and the grammar starts with the final answer's
        # text; any other model's whole reply is constrained (see structured.py).
        watch = FinalChannelWatch() if constraint is not None and harmony_mode else None
        if constraint is not None and watch is None:
            constraint.active = True
        eog = self._eog
        max_new = request.max_tokens if request.max_tokens and request.max_tokens > 0 else None
        counter = TokenCounter()
        spec = self._speculator(ctx, cache, sampler, constraint)
        queue: list[int] = []  # tokens speculation already sampled (accepted drafts, then one)
        n_gen = 0
        t_first = t_last = t_first_reason = t_first_answer = 0.0
        stop = "end"
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    stop = "cancelled"
                    break
                if max_new is not None and n_gen >= max_new:
                    stop = "length"
                    break
                if len(tokens) + n_gen >= info.n_ctx:  # what the cache holds without drafts
                    stop = "context"
                    break
                if queue:
                    token = queue.pop(0)
                elif constraint is not None and constraint.active:
                    token = constraint.sample(sampler)
                else:
                    token = llama_cpp.llama_sampler_sample(sampler, ctx, -1)
                now = time.perf_counter()
                n_gen += 1
                if n_gen == 1:
                    t_first = now
                t_last = now
                is_eog = eog[token] if token in eog else self._is_eog(token)
                piece = self._visible_piece(token, harmony_mode)
                text = decoder.decode(piece) if piece else ""
                events = parser.feed(text) if text else []
                for ev in events:
                    if isinstance(ev, ReasoningDelta):
                        t_first_reason = t_first_reason or now
                    elif isinstance(ev, AnswerDelta):
                        t_first_answer = t_first_answer or now
                counter.add(events)
                yield from events
                if watch is not None and text and watch.feed(text):
                    assert constraint is not None
                    constraint.active, watch = True, None
                if is_eog or parser.done:
                    # harmony's <|call|> ends the step: the caller runs the call and continues
                    if events and isinstance(events[-1], ToolCall):
                        stop = "tool_call"
                    break
                if queue:
                    continue  # an accepted draft: already in the cache
                if spec is None:
                    ok = cache.decode_one(token)
                else:
                    room = min(info.n_ctx - cache.n_past, max_new - n_gen if max_new else 1 << 30)
                    sampled = spec.advance(token, room)
                    ok, queue = sampled is not None, sampled or []
                if not ok:
                    raise EngineError("llama.cpp failed to continue this reply (out of memory?).")
        finally:
            if spec is not None:
                spec.close()
                cache.truncate(min(cache.n_past, len(tokens) + n_gen))  # drafts never emitted
            llama_cpp.llama_sampler_free(sampler)
        tail = parser.finish()
        counter.add(tail, final=True)
        yield from tail
        t_end = time.perf_counter()
        gen_s = t_last - t_first
        yield Done(
            ReplyStats(
                ttft_s=(t_first or t_end) - t_start,
                tokens_per_s=(n_gen - 1) / gen_s if n_gen > 1 and gen_s > 0 else 0.0,
                prompt_tokens=len(tokens),
                reused_prompt_tokens=reused,
                reasoning_tokens=counter.reasoning,
                answer_tokens=counter.answer,
                reasoning_s=((t_first_answer or t_end) - t_first_reason) if t_first_reason else 0.0,
                total_s=t_end - t_start,
                stop_reason=stop,
                drafted_tokens=spec.drafted if spec else 0,
                accepted_tokens=spec.accepted if spec else 0,
            )
        )
