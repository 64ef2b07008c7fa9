"""Prompt-lookup speculative decoding: drafting, adaptation, and the real engine's token loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fireside.core.chat.conversation import ChatRequest, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ReplyStats
from fireside.core.engine import speculative
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.protocol import LoadConfig
from fireside.core.engine.speculative import K_START, MAX_COOLDOWN, Adaptive, Drafter, DraftRecord
from fireside.ui.wording import footer

BARRIER = 99


def _barrier(token: int) -> bool:
    return token == BARRIER


# ------------------------------------------------------------------------------- drafting
def test_drafts_what_followed_the_earlier_occurrence_of_the_tail():
    drafter = Drafter([1, 2, 3, 4, 5, 6, 7, 9, 2, 3], _barrier)
    assert drafter.draft(3) == [4, 5, 6]
    assert drafter.draft(10) == [4, 5, 6, 7, 9, 2, 3]  # never past what was seen


def test_longest_ngram_wins_and_the_most_recent_occurrence():
    # "2 3" occurs twice; the 3-gram "1 2 3" picks the occurrence followed by 7
    drafter = Drafter([1, 2, 3, 7, 8, 5, 2, 3, 6, 6, 1, 2, 3], _barrier)
    assert drafter.draft(2) == [7, 8]
    drafter = Drafter([5, 2, 3, 7, 0, 2, 3, 8, 4, 2, 3], _barrier)
    assert drafter.draft(1) == [8]  # the 2-gram's latest occurrence


def test_no_match_no_draft_and_the_tail_never_matches_itself():
    assert Drafter([1, 2, 3, 4], _barrier).draft(4) == []
    assert Drafter([], _barrier).draft(4) == []


def test_drafts_stop_before_control_tokens():
    drafter = Drafter([1, 2, 3, BARRIER, 4, 1, 2], _barrier)
    assert drafter.draft(5) == [3]
    drafter = Drafter([1, 2, BARRIER, 4, 1, 2], _barrier)
    assert drafter.draft(5) == []


def test_appended_tokens_are_indexed_incrementally():
    drafter = Drafter([1, 2, 3], _barrier)
    drafter.extend([4, 1, 2])
    assert drafter.draft(4) == [3, 4, 1, 2]


def test_adaptive_grows_shrinks_and_backs_off():
    a = Adaptive(k_max=8)
    start = a.k
    a.update(drafted=start, accepted=start)
    assert a.k == start + 2
    a.update(drafted=a.k, accepted=2)
    assert a.k == 2
    cooldowns = []
    for _ in range(8):
        a.update(drafted=1, accepted=0)
        assert a.k == 1
        cooldowns.append(a.cooldown)
        skipped = 0
        while not a.ready():
            skipped += 1
        assert skipped == cooldowns[-1]
    assert cooldowns == [2, 4, 8, 16, 32, 64, 64, 64][: len(cooldowns)]
    assert max(cooldowns) == MAX_COOLDOWN
    a.update(drafted=1, accepted=1)
    assert a.misses == 0 and a.cooldown == 0 and a.ready()


def test_the_back_off_carries_over_to_the_next_reply_until_a_draft_is_accepted():
    record = DraftRecord()
    first = Adaptive(k_max=8, record=record)
    assert first.ready() and first.k > 1  # a fresh model drafts at once
    for _ in range(3):
        first.update(drafted=first.k, accepted=0)
        while not first.ready():
            pass
    assert record.misses == 3
    second = Adaptive(k_max=8, record=record)  # the next reply on the same model
    assert second.k == 1 and second.cooldown == 8
    skipped = 0
    while not second.ready():
        skipped += 1
    assert skipped == 8
    second.update(drafted=1, accepted=1)
    assert record.misses == 0
    third = Adaptive(k_max=8, record=record)
    assert third.ready() and third.k == K_START  # nothing held back any more
    assert Adaptive(k_max=8).ready()  # without a record every reply starts fresh


# ------------------------------------------------------------------------- stats wording
def test_footer_shows_drafts_only_when_there_were_any():
    assert "drafted" not in footer(ReplyStats())
    assert "30 of 40 drafted tokens accepted" in footer(ReplyStats(drafted_tokens=40, accepted_tokens=30))
    stats = ReplyStats(drafted_tokens=4, accepted_tokens=3).as_json()
    assert stats["drafted_tokens"] == 4 and stats["accepted_tokens"] == 3


# ------------------------------------------------------------------------ the real engine
COPY_TEXT = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. He polished the great "
    "lens, trimmed the wick, and wrote the weather in a leather book. Ships passed in the night, "
    "and none of them ever knew his name. In winter the sea froze along the shore, and the gulls "
    "came to his window for bread. "
)


def _copy_request(max_tokens: int) -> ChatRequest:
    prompt = f"Copy this text exactly.\n\nText: {COPY_TEXT}\n\nCopy: {COPY_TEXT[:40]}"
    return ChatRequest(messages=(Message("user", prompt),), max_tokens=max_tokens,
                       sampling=Sampling.greedy())


def _reply(engine: LlamaEngine, request: ChatRequest) -> tuple[str, ReplyStats]:
    events = list(engine.stream(request))
    done = events[-1]
    assert isinstance(done, Done)
    text = "".join(e.text for e in events if isinstance(e, ReasoningDelta | AnswerDelta))
    return text, done.stats


def _engine(path: Path, spec: bool, **kw: int | bool) -> LlamaEngine:
    # No shared-prefix store (the default; test_prefix_state.py tests it): a fresh engine reuses nothing.
    engine = LlamaEngine()
    engine.load(str(path), LoadConfig(speculative=spec, **kw))  # type: ignore[arg-type]
    return engine


@pytest.mark.slow
def test_gemma_greedy_output_is_identical_with_bit_exact_batches(gemma_path: Path, monkeypatch):
    """With verification batches of at most 3 tokens, llama.cpp computes every row of Gemma's
    Q4_K batch exactly as a single token (measured: same logits to the bit below 512 cached
    tokens), so the greedy reply must be token-for-token the same, with drafts accepted."""
    monkeypatch.setattr(speculative, "K_MAX", 2)
    load = {"n_ctx": 512, "n_batch": 128}
    request = _copy_request(96)
    plain, plain_stats = _reply(_engine(gemma_path, False, **load), request)
    engine = _engine(gemma_path, True, **load)
    fast, stats = _reply(engine, request)
    assert plain_stats.drafted_tokens == 0
    assert stats.accepted_tokens > 0, stats
    assert stats.drafted_tokens >= stats.accepted_tokens
    assert fast == plain
    n_plain = plain_stats.answer_tokens + plain_stats.reasoning_tokens
    assert stats.answer_tokens + stats.reasoning_tokens == n_plain
    assert engine.cache is not None
    assert engine.cache.n_past <= stats.prompt_tokens + 96  # no rejected draft left in the cache
    # and the next turn reuses the prefix exactly as after plain decoding
    follow = ChatRequest(messages=(*request.messages, Message("assistant", fast),
                                   Message("user", "Again.")), max_tokens=24, sampling=Sampling.greedy())
    again, again_stats = _reply(engine, follow)
    assert again_stats.reused_prompt_tokens > stats.prompt_tokens // 2
    assert again == _reply(_engine(gemma_path, True, **load), follow)[0]


@pytest.mark.slow
def test_gemma_temperature_sampling_draws_the_same_tokens(gemma_path: Path, monkeypatch):
    """Each emitted token is sampled once by the same chain, in the same order, as without
    speculation (never for a rejected position), so with exact batches and the same seed the
    sampled reply is the same: the distribution is the target's, not the draft's."""
    monkeypatch.setattr(speculative, "K_MAX", 2)
    load = {"n_ctx": 512, "n_batch": 128}
    request = replace(_copy_request(80), sampling=Sampling(temperature=0.7, seed=11))
    plain, _ = _reply(_engine(gemma_path, False, **load), request)
    fast, stats = _reply(_engine(gemma_path, True, **load), request)
    assert stats.accepted_tokens > 0
    assert fast == plain


@pytest.mark.parametrize("swa_full", [False, True])
def test_tiny_gptoss_greedy_output_is_unchanged_across_the_window(
        tiny_gptoss_path: Path, swa_full: bool, monkeypatch: pytest.MonkeyPatch):
    """400 tokens through a 4-token window, greedy, with and without speculation. Every draft
    ends with a token greedy never picks (a control token: logit 0 in the tiny model), so every
    verification rolls back at least one position, past the window many times over.
    llama.cpp's F16 kernels differ by up to ~1e-3 between a batch row and a single token (see
    speculative.py); with these settings no greedy choice of the random model is that close
    (checked), so a difference here is a rollback or bookkeeping error, not rounding."""
    load = {"n_ctx": 1024, "n_batch": 64, "swa_full": swa_full}
    request = _copy_request(400)
    original = Drafter.draft

    def draft_then_a_wrong_token(self: Drafter, k: int) -> list[int]:
        drafts = original(self, max(1, k - 1))
        return [*drafts, bad[0]] if drafts else []

    monkeypatch.setattr(Drafter, "draft", draft_then_a_wrong_token)
    plain, plain_stats = _reply(_engine(tiny_gptoss_path, False, **load), request)
    assert plain_stats.stop_reason == "length"
    engine = _engine(tiny_gptoss_path, True, **load)
    bad = engine.tokenize("<|reserved_200000|>", add_special=False)
    assert len(bad) == 1
    fast, stats = _reply(engine, request)
    assert stats.accepted_tokens > 100 and stats.drafted_tokens > stats.accepted_tokens
    assert fast == plain
    assert engine.cache is not None and engine.cache.n_past == stats.prompt_tokens + 400


@pytest.mark.parametrize("swa_full", [False, True])
def test_tiny_gptoss_rollback_past_the_sliding_window_keeps_reuse_exact(
        tiny_gptoss_path: Path, swa_full: bool):
    """A long speculative reply overruns the tiny window (4 tokens) many times over, with drafts
    rejected and removed; the next turn, reusing the cache (and its SWA checkpoint), must equal
    the same turn on a fresh engine."""
    load = {"n_ctx": 1024, "n_batch": 64, "swa_full": swa_full}
    engine = _engine(tiny_gptoss_path, True, **load)
    first = _copy_request(300)
    _, stats1 = _reply(engine, first)
    assert stats1.accepted_tokens > 0
    assert engine.cache is not None and engine.cache.n_past > stats1.prompt_tokens + 200
    second = ChatRequest(messages=(*first.messages, Message("assistant", "Sure."),
                                   Message("user", "And then?")), max_tokens=200,
                         sampling=Sampling.greedy())
    reused, reused_stats = _reply(engine, second)
    assert reused_stats.reused_prompt_tokens > stats1.prompt_tokens // 2
    assert engine.cache.restores == (0 if swa_full else 1)
    fresh, fresh_stats = _reply(_engine(tiny_gptoss_path, True, **load), second)
    assert fresh_stats.reused_prompt_tokens == 0
    assert reused == fresh
    assert (reused_stats.drafted_tokens, reused_stats.accepted_tokens) == (
        fresh_stats.drafted_tokens, fresh_stats.accepted_tokens)


def test_grammar_or_custom_sampler_turns_speculation_off(tiny_gptoss_path: Path):
    from tests.helpers.forcing import ForcingSampler

    engine = LlamaEngine(sampler_factory=ForcingSampler())
    engine.load(str(tiny_gptoss_path), LoadConfig(n_ctx=512, n_batch=64, speculative=True))
    _, stats = _reply(engine, _copy_request(64))
    assert stats.drafted_tokens == 0
    engine = _engine(tiny_gptoss_path, True, n_ctx=512, n_batch=64)
    request = ChatRequest(messages=_copy_request(48).messages, max_tokens=48, sampling=Sampling.greedy(),
                          json_schema={"type": "object"})
    _, stats = _reply(engine, request)
    assert stats.drafted_tokens == 0


def test_drafts_never_run_past_the_context_or_max_tokens(tiny_gptoss_path: Path):
    load = {"n_ctx": 768, "n_batch": 64}
    request = replace(_copy_request(0), max_tokens=None)
    plain, plain_stats = _reply(_engine(tiny_gptoss_path, False, **load), request)
    engine = _engine(tiny_gptoss_path, True, **load)
    fast, stats = _reply(engine, request)
    assert plain_stats.stop_reason == stats.stop_reason == "context"
    assert stats.accepted_tokens > 0
    n = stats.answer_tokens + stats.reasoning_tokens
    assert n == plain_stats.answer_tokens + plain_stats.reasoning_tokens
    assert fast == plain
    assert engine.cache is not None and engine.cache.n_past == 768 == stats.prompt_tokens + n
    _, short_stats = _reply(engine, _copy_request(37))
    assert short_stats.stop_reason == "length"
    assert short_stats.answer_tokens + short_stats.reasoning_tokens == 37


def test_every_harmony_control_token_is_a_draft_barrier(tiny_gptoss_path: Path):
    from fireside.core.chat.harmony import CONTROL_TOKENS

    engine = _engine(tiny_gptoss_path, True, n_ctx=512, n_batch=64)
    for text in CONTROL_TOKENS:  # <|channel|> and friends are not control-typed in the vocabulary
        (token,) = engine.tokenize(text, add_special=False)
        assert engine._is_barrier(token), text
    assert not any(engine._is_barrier(t) for t in engine.tokenize("an ordinary sentence", add_special=False))


def test_the_engine_keeps_the_back_off_across_replies_and_starts_afresh_after_a_load(
        tiny_gptoss_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every draft is a control token greedy never picks, so every draft misses: the first reply
    pays the back-off's first misses, the next reply on the same model starts backed off and
    drafts less, and loading the model again forgets it."""
    engine = _engine(tiny_gptoss_path, True, n_ctx=1024)
    bad = engine.tokenize("<|reserved_200000|>", add_special=False)
    monkeypatch.setattr(Drafter, "draft", lambda self, k: list(bad))
    request = _copy_request(60)
    drafted = []
    for _ in range(2):
        _, stats = _reply(engine, request)
        assert stats.stop_reason == "length" and stats.accepted_tokens == 0
        drafted.append(stats.drafted_tokens)
    engine.load(str(tiny_gptoss_path), LoadConfig(speculative=True, n_ctx=1024))
    _, again = _reply(engine, request)
    # cool-downs of 2, 4, 8, 16, 32 tokens: 5 drafts in 60 tokens; then one every 64 at most
    assert drafted == [5, 1] and again.drafted_tokens == 5
