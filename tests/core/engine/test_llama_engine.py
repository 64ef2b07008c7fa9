"""LlamaEngine on real GGUFs: the tiny generated gpt-oss and Gemma 3 270M from PyPI."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import llama_cpp
import pytest

from fireside.core.chat.conversation import ChatRequest, Effort, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta
from fireside.core.chat.harmony import CONTROL_TOKENS
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import ContextOverflow, EngineError, LoadConfig, ModelLoadError
from fireside.core.models.fit_planner import BADGE_CPU, BADGE_GPU, GPU_OVERHEAD
from fireside.core.models.gguf_info import read_gguf
from fireside.core.models.kv_budget import kv_budget
from tests.helpers.machine import gpus

GREEDY = Sampling.greedy()


def _run(engine: LlamaEngine, request: ChatRequest, cancel: threading.Event | None = None):
    events = list(engine.stream(request, cancel))
    assert isinstance(events[-1], Done)
    assert sum(isinstance(e, Done) for e in events) == 1
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return reasoning, answer, events[-1].stats


def _ask(text: str, *history: Message, max_tokens: int = 24, system: str = "", **kw) -> ChatRequest:
    return ChatRequest(
        messages=(*history, Message("user", text)), max_tokens=max_tokens, sampling=GREEDY,
        system_prompt=system, **kw,
    )


@pytest.fixture(scope="module")
def tiny(tiny_gptoss_path: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=512, n_batch=64))
    return engine


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> LlamaEngine:
    engine = LlamaEngine()
    engine.load(str(gemma_path), LoadConfig(n_ctx=1024, n_batch=128))
    return engine


def _fresh(path: Path, **kw) -> LlamaEngine:
    # No shared-prefix store (the default; test_prefix_state.py tests it): a fresh engine reuses nothing.
    engine = LlamaEngine()
    engine.load(str(path), LoadConfig(**kw))
    return engine


def test_tiny_gptoss_loads_as_harmony_and_streams_without_control_tokens(tiny: LlamaEngine):
    assert tiny.info is not None and tiny.info.is_harmony
    assert tiny.info.architecture == "gpt-oss"
    reasoning, answer, stats = _run(tiny, _ask("Hello there, how are you?", max_tokens=40))
    assert stats.prompt_tokens > 20
    assert stats.reasoning_tokens + stats.answer_tokens == 40
    assert stats.stop_reason == "length"  # greedy on the fixed tiny model: no end token in 40
    for token in CONTROL_TOKENS:
        assert token not in reasoning and token not in answer


@pytest.mark.parametrize("seed", range(12))
def test_sampled_stray_special_tokens_never_reach_the_text(tiny: LlamaEngine, seed: int):
    """At temperature 1 the tiny model samples reserved control tokens; none may show."""
    request = ChatRequest(messages=(Message("user", "Hi"),), max_tokens=48, sampling=Sampling(seed=seed))
    reasoning, answer, stats = _run(tiny, request)
    assert "<|" not in reasoning + answer
    assert stats.reasoning_tokens + stats.answer_tokens >= 1


def test_effort_changes_the_prompt_the_model_sees(tiny: LlamaEngine):
    for effort in Effort:
        prompt = tiny.render_prompt(_ask("hi", effort=effort))
        assert f"Reasoning: {effort.value}\n" in prompt
    low = tiny.tokenize(tiny.render_prompt(_ask("hi", effort=Effort.LOW)))
    high = tiny.tokenize(tiny.render_prompt(_ask("hi", effort=Effort.HIGH)))
    assert low != high


STORY = "Tell me a long story about the sea and the sky."
COUNT = "Count from 1 to 400, separated by commas."  # Gemma 270M keeps going for 800+ tokens


def _reuse_vs_fresh(path: Path, engine: LlamaEngine, first_tokens: int, prompt: str = STORY, **load):
    """Turn 1 overruns the SWA cache; return turn 2 (reused cache) and turn 2 (fresh context)."""
    first = _ask(prompt, max_tokens=first_tokens)
    _, _, stats1 = _run(engine, first)
    assert engine.cache is not None
    swa_cells = kv_budget(read_gguf(path), engine.cache.n_past, swa_full=False,
                          n_ubatch=engine.cache.n_batch).swa_cells
    assert engine.cache.n_past > swa_cells, "turn 1 must overrun the sliding-window cache"
    # The next prompt leaves the cached reply right where it began (as harmony does by dropping
    # reasoning, or as an edited reply does), so the cache must rewind past the window.
    history = (first.messages[0], Message("assistant", "Sure, here it is."))
    second = _ask("And then what happened next?", *history, max_tokens=24)
    reused = _run(engine, second)
    assert reused[2].reused_prompt_tokens > stats1.prompt_tokens // 2
    fresh_engine = _fresh(path, **load)
    fresh = _run(fresh_engine, second)
    fresh_engine.unload()
    assert fresh[2].reused_prompt_tokens == 0
    assert fresh[2].reasoning_tokens + fresh[2].answer_tokens > 0
    return reused, fresh


TINY_LOAD = {"n_ctx": 1024, "n_batch": 64}


def test_kv_reuse_is_exact_across_the_sliding_window_tiny(tiny_gptoss_path: Path):
    window = read_gguf(tiny_gptoss_path).arch_key("attention.sliding_window")
    assert 0 < window <= 8
    engine = _fresh(tiny_gptoss_path, **TINY_LOAD)
    reused, fresh = _reuse_vs_fresh(tiny_gptoss_path, engine, 280, **TINY_LOAD)
    assert engine.cache is not None and engine.cache.restores == 1
    assert reused[:2] == fresh[:2]


@pytest.mark.slow
def test_naive_prefix_reuse_would_be_wrong(gemma_path: Path, monkeypatch):
    """Why checkpoints exist: rewinding without restoring the SWA cells changes the output.

    Shown on Gemma, a real model; the tiny random model's output barely depends on its context.
    """
    from fireside.core.engine import kv_cache

    monkeypatch.setattr(kv_cache.PrefixCache, "_restore", lambda self, n_keep: n_keep)
    load = {"n_ctx": 2048, "n_batch": 256}
    engine = _fresh(gemma_path, **load)
    reused, fresh = _reuse_vs_fresh(gemma_path, engine, 820, COUNT, **load)
    assert reused[:2] != fresh[:2]


def test_full_swa_cache_needs_no_checkpoint(tiny_gptoss_path: Path):
    load = {**TINY_LOAD, "swa_full": True}
    engine = _fresh(tiny_gptoss_path, **load)
    reused, fresh = _reuse_vs_fresh(tiny_gptoss_path, engine, 280, **load)
    assert engine.cache is not None and engine.cache.restores == 0
    assert reused[:2] == fresh[:2]


@pytest.mark.slow
def test_kv_reuse_is_exact_across_the_sliding_window_gemma(gemma_path: Path):
    # Gemma's window is 512 tokens: a turn of ~560 generated tokens crosses it.
    load = {"n_ctx": 2048, "n_batch": 256}
    engine = _fresh(gemma_path, **load)
    assert engine.cache is not None and engine.cache.n_swa == 512
    reused, fresh = _reuse_vs_fresh(gemma_path, engine, 820, COUNT, **load)
    assert engine.cache.restores == 1
    assert reused[:2] == fresh[:2]


def _resend_vs_fresh(path: Path, first: ChatRequest, again: ChatRequest, monkeypatch, **load):
    """Send `first` (its reply overruns the SWA cache), then `again` (the same prompt) on the same
    engine, and `again` on a fresh one; return the three replies and the token counts each
    prompt evaluation of the resend fed to llama.cpp."""
    from fireside.core.engine import kv_cache

    engine = _fresh(path, **load)
    one = _run(engine, first)
    assert engine.cache is not None
    assert one[2].prompt_tokens > engine.cache.n_swa, "the prompt must be longer than the window"
    swa_cells = kv_budget(read_gguf(path), engine.cache.n_past, swa_full=False,
                          n_ubatch=engine.cache.n_batch).swa_cells
    assert engine.cache.n_past > swa_cells, "the reply must overrun the sliding-window cache"
    fed: list[int] = []
    evaluate = kv_cache.PrefixCache.evaluate

    def counting(cache: kv_cache.PrefixCache, tokens: list[int], cancel=None) -> bool:
        fed.append(len(tokens))
        return evaluate(cache, tokens, cancel)

    monkeypatch.setattr(kv_cache.PrefixCache, "evaluate", counting)
    resent = _run(engine, again)
    monkeypatch.setattr(kv_cache.PrefixCache, "evaluate", evaluate)
    assert engine.cache.restores == 1
    fresh_engine = _fresh(path, **load)
    fresh = _run(fresh_engine, again)
    fresh_engine.unload()
    engine.unload()
    assert fresh[2].reused_prompt_tokens == 0
    return one, resent, fresh, fed


def test_identical_resend_evaluates_one_token_and_matches_a_fresh_engine_tiny(
        tiny_gptoss_path: Path, monkeypatch):
    """An identical resend (an agent's retry, a regenerate) rewinds to len(prompt) - 1, where
    the checkpoint taken at the prompt's end serves: one token is evaluated, not the prompt."""
    first, again = _ask(STORY, max_tokens=280), _ask(STORY, max_tokens=24)
    one, resent, fresh, fed = _resend_vs_fresh(tiny_gptoss_path, first, again, monkeypatch,
                                               **TINY_LOAD)
    assert resent[2].prompt_tokens == one[2].prompt_tokens
    assert resent[2].reused_prompt_tokens == resent[2].prompt_tokens - 1
    assert fed == [1]
    assert resent[:2] == fresh[:2]
    assert resent[2].reasoning_tokens + resent[2].answer_tokens == 24


def _last_logits(engine: LlamaEngine) -> list[float]:
    assert engine._ctx is not None and engine._vocab is not None
    n_vocab = llama_cpp.llama_vocab_n_tokens(engine._vocab)
    return llama_cpp.llama_get_logits_ith(engine._ctx, -1)[:n_vocab]


@pytest.mark.parametrize("restore", [True, False], ids=["checkpoint", "naive"])
def test_rewind_to_the_prompts_last_token_gives_a_fresh_evaluations_logits(
        tiny_gptoss_path: Path, restore: bool, monkeypatch):
    """The logits behind an identical resend's first token, against a fresh evaluation: equal up
    to summation order (the restored cells sit elsewhere in the ring; measured 1.3e-4) through the
    checkpoint, and wrong (measured 0.44, another greedy token) when the overwritten window is
    trusted instead, which shows the comparison can fail."""
    from fireside.core.engine import kv_cache

    fresh_engine = _fresh(tiny_gptoss_path, **TINY_LOAD)
    request = _ask(STORY, max_tokens=280)
    tokens = fresh_engine._prompt_tokens(request)
    assert fresh_engine.cache is not None and fresh_engine.cache.evaluate(tokens)
    want = _last_logits(fresh_engine)
    fresh_engine.unload()
    if not restore:
        monkeypatch.setattr(kv_cache.PrefixCache, "_restore", lambda self, n_keep: n_keep)
    engine = _fresh(tiny_gptoss_path, **TINY_LOAD)
    _run(engine, request)
    assert engine.cache is not None
    swa_cells = kv_budget(read_gguf(tiny_gptoss_path), engine.cache.n_past, swa_full=False,
                          n_ubatch=engine.cache.n_batch).swa_cells
    assert engine.cache.n_past > swa_cells  # the reply overwrote cells of the prompt's window
    kept = engine.cache.prepare(tokens)
    assert kept == len(tokens) - 1 and engine.cache.evaluate(tokens[kept:])
    got = _last_logits(engine)
    engine.unload()
    worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
    if restore:
        assert worst < 1e-3 and got.index(max(got)) == want.index(max(want))
    else:
        assert worst > 0.05


@pytest.mark.slow
def test_identical_resend_evaluates_one_token_and_matches_a_fresh_engine_gemma(
        gemma_path: Path, monkeypatch):
    """The same on a real model, whose output depends on the window's cells: a prompt longer
    than Gemma's 512-token window, and a reply that overwrote cells the prompt's last position
    attends to; the resend restores them from the checkpoint (tokens compared with a fresh
    engine, as above)."""
    counted = ", ".join(str(i) for i in range(1, 160))
    text = f"Count from 1 to 1000, separated by commas. {counted},"
    first = _ask(text, max_tokens=320)
    again = _ask(text, max_tokens=24)
    one, resent, fresh, fed = _resend_vs_fresh(gemma_path, first, again, monkeypatch,
                                               n_ctx=2048, n_batch=256)
    assert resent[2].reused_prompt_tokens == resent[2].prompt_tokens - 1
    assert fed == [1]
    assert resent[:2] == fresh[:2]
    assert resent[2].answer_tokens == 24 and one[1].startswith(resent[1])


def test_gemma_base_model_uses_plain_transcript_and_writes_real_text(gemma: LlamaEngine):
    assert gemma.info is not None and gemma.info.prompt_format == "plain"
    assert "no chat template" in gemma.info.note
    prompt = gemma.render_prompt(_ask("What is the capital of France?"))
    assert prompt.endswith("User: What is the capital of France?\nAssistant:")
    reasoning, answer, stats = _run(gemma, _ask("What is the capital of France?", max_tokens=24))
    assert reasoning == ""
    assert re.search(r"[A-Za-z]{3,}", answer), answer
    assert "User:" not in answer  # the plain transcript's stop string holds
    assert stats.tokens_per_s > 0 and stats.ttft_s > 0


def test_cancel_stops_between_tokens(gemma: LlamaEngine):
    cancel = threading.Event()
    request = _ask("Write a very long essay about rivers.", max_tokens=400)
    request = ChatRequest(messages=request.messages, max_tokens=400, sampling=Sampling(seed=1))
    events = []
    for ev in gemma.stream(request, cancel):
        events.append(ev)
        if sum(isinstance(e, AnswerDelta) for e in events) == 3:
            cancel.set()
    done = events[-1]
    assert isinstance(done, Done) and done.stats.stop_reason == "cancelled"
    assert done.stats.answer_tokens <= 5


def test_load_errors_are_readable_and_do_not_crash(tmp_path: Path, gemma_path: Path):
    engine = LlamaEngine()
    with pytest.raises(ModelLoadError, match="No file"):
        engine.load(str(tmp_path / "missing.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        engine.load(str(junk))
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(gemma_path.read_bytes()[: 50_000_000])
    with pytest.raises(ModelLoadError, match="incomplete"):
        engine.load(str(truncated))
    with pytest.raises(EngineError, match="No model is loaded"):
        engine.stream(_ask("hi"))


def test_context_overflow_is_reported_before_generation(tiny_gptoss_path: Path):
    engine = _fresh(tiny_gptoss_path, n_ctx=128)
    with pytest.raises(ContextOverflow, match="is longer than") as raised:
        engine.stream(_ask("word " * 400))
    assert raised.value.n_ctx == engine.info.n_ctx  # llama.cpp rounds 128 up
    assert raised.value.prompt_tokens == engine.count_prompt_tokens(_ask("word " * 400)) > 256
    # the engine is still usable afterwards
    _, _, stats = _run(engine, _ask("hi", max_tokens=4))
    assert stats.prompt_tokens > 0


def _logged_kv_bytes(caplog: pytest.LogCaptureFixture) -> int:
    total = 0.0
    for rec in caplog.records:
        m = re.search(r"llama_kv_cache: size =\s+([\d.]+) MiB", rec.getMessage())
        if m:
            total += float(m.group(1))
    return int(total * 2**20)


@pytest.mark.parametrize("swa_full", [True, False])
@pytest.mark.parametrize("model", ["gemma_path", "tiny_gptoss_path"])
def test_kv_budget_matches_what_llama_cpp_allocates(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, swa_full: bool, model: str
):
    """The fit planner's KV arithmetic (gpt-oss: 48 vs 24 KiB/token) is what llama.cpp allocates."""
    path: Path = request.getfixturevalue(model)
    caplog.set_level(logging.DEBUG, logger="fireside.llama")
    engine = _fresh(path, n_ctx=4096, swa_full=swa_full)
    allocated = _logged_kv_bytes(caplog)
    engine.unload()
    predicted = kv_budget(read_gguf(path), 4096, swa_full=swa_full).total_bytes
    assert allocated > 0
    assert abs(allocated - predicted) <= 0.01 * predicted


def test_auto_fit_lets_the_planner_choose_and_says_so(tiny_gptoss_path: Path):
    """The planner puts the tiny model (a few MB) wholly on a GPU when the machine has one, and
    on the CPU otherwise; with no context asked for, it gives the model its whole trained context
    (4,096 for the tiny model)."""
    gpu = max(gpus(), key=lambda d: d.free, default=None)
    if gpu is not None:
        assert gpu.free > GPU_OVERHEAD + tiny_gptoss_path.stat().st_size, f"{gpu.name} is full"
    engine = LlamaEngine()
    info = engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=0, auto_fit=True))
    assert info.fit == (BADGE_CPU if gpu is None else BADGE_GPU)
    assert info.n_ctx == read_gguf(tiny_gptoss_path).context_length == 4096
    capped = engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=1024, auto_fit=True))
    assert capped.n_ctx == 1024
    # llama.cpp pads contexts up to 256-token blocks; a ceiling such as an admin's 384 must hold
    odd = engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=384, auto_fit=True))
    assert odd.n_ctx == 256
    plain = engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=0))
    assert plain.fit == "" and plain.n_ctx == min(LoadConfig().n_ctx, 4096)
    engine.unload()


def test_template_path_renders_the_ggufs_own_template_and_streams(
    tiny_gptoss_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A non-gpt-oss chat model goes through its embedded Jinja template (sandboxed). The tiny
    GGUF carries a real chat template, so treat it as such a model end to end."""
    from fireside.core.chat import prompting
    from fireside.core.engine import llama_engine

    monkeypatch.setattr(llama_engine, "prompt_format", lambda gguf: "template")
    monkeypatch.setattr(prompting, "prompt_format", lambda gguf: "template")
    engine = _fresh(tiny_gptoss_path, **TINY_LOAD)
    assert engine.info is not None and engine.info.prompt_format == "template"
    prompt = engine.render_prompt(_ask("Hello from a template", system="Be kind."))
    assert "Hello from a template" in prompt and "Be kind." in prompt
    assert prompt == prompting.render_template(
        read_gguf(tiny_gptoss_path).chat_template, _ask("Hello from a template", system="Be kind."),
        prompting.template_tokens(read_gguf(tiny_gptoss_path)),
    )
    reasoning, answer, stats = _run(engine, _ask("Hello", max_tokens=16))
    assert stats.answer_tokens + stats.reasoning_tokens == 16
    assert "<|" not in reasoning + answer
    engine.unload()


def test_prompt_tokenized_per_message_equals_tokenizing_the_whole_text(tiny: LlamaEngine):
    """The per-message tokenization cache gives exactly llama.cpp's tokens for the whole prompt,
    including text that spells special tokens and text right after them."""
    history = (
        Message("user", "Hello world, the fire side"),
        Message("assistant", "It is <|end|> in the text, and<|start|>here"),
        Message("user", "<|end|>trailing and the world"),
        Message("assistant", " hello  world \n\n"),
    )
    for n in range(len(history) + 1):
        request = _ask("and the last one", *history[:n], system="Be brief.")
        text = tiny.render_prompt(request)
        assert tiny._prompt_tokens(request) == tiny.tokenize(text)
        assert tiny._prompt_tokens(request) == tiny.tokenize(text)  # again, from the cache


def test_counting_a_prompt_then_streaming_it_tokenizes_it_once(gemma: LlamaEngine, monkeypatch):
    """The API server counts a request's tokens before it streams it; the plain transcript
    (no per-message cache) is tokenized once for both, and a changed prompt anew."""
    request = _ask("Name a river.", Message("user", "Hi"), Message("assistant", "Hello."),
                   max_tokens=2)
    text = gemma.render_prompt(request)
    calls: list[str] = []
    tokenize = LlamaEngine.tokenize

    def counting(self: LlamaEngine, t: str, *, add_special: bool = True) -> list[int]:
        calls.append(t)
        return tokenize(self, t, add_special=add_special)

    monkeypatch.setattr(LlamaEngine, "tokenize", counting)
    n = gemma.count_prompt_tokens(request)
    _, _, stats = _run(gemma, request)
    assert stats.prompt_tokens == n == len(tokenize(gemma, text))
    assert calls.count(text) == 1
    changed = _ask("Name a lake.", max_tokens=2)
    assert gemma.count_prompt_tokens(changed) == len(tokenize(gemma, gemma.render_prompt(changed)))
    assert calls.count(gemma.render_prompt(changed)) == 1
