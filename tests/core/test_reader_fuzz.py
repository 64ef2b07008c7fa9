"""Every file Fireside reads besides models, fuzzed like the GGUF reader: only clean errors.

Readers: a conversation export to import (core/history/export.py), the admin policy
(core/admin/policy.py), settings.toml (core/config/settings.py) and the saved presets
(core/history/presets.py). Each gets hostile variants of a real file of its kind from a seeded
mutator (flips, truncations, cut and doubled spans, deep nesting, 5,000-digit numbers, lone
surrogates, NULs) and arbitrary JSON from hypothesis; each must either read the file or refuse
it with its own error type and a one-line message, never raise anything else.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fireside.core.admin.policy import load_policy
from fireside.core.config.settings import Settings, effective_settings, load_settings, save_settings
from fireside.core.history.export import BadExportFile, dumps, export_json, import_json, read_export_file
from fireside.core.history.presets import STATE_KEY, Preset, load_presets, save_preset
from fireside.core.history.store import Store
from tests.helpers.gguf_fuzz import FIRESIDE_CLI

HOSTILE = (
    "[" * 100_000,
    '{"a":' * 50_000,
    "9" * 5000,
    "-" + "9" * 5000,
    "1e999",
    "-0",
    "NaN",
    "Infinity",
    '"\\ud800"',
    '"\\u0000"',
    "null",
    "true",
    "[]",
    "{}",
    '"' + "x" * 100_000 + '"',
    "\x00",
    "\ufeff",
    '"\\',
    "0x10",
    "[[[[1]]]]",
    "=",
    "[a]",
    "a.b.c = 1",
    "'''",
    '"""',
)
N_VARIANTS = 150  # per reader and run; every run uses the same seeds


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(7)
    n = len(text)
    at = rng.randrange(n + 1)
    if kind == 0:  # flip characters
        chars = list(text)
        for _ in range(rng.randint(1, 6)):
            if chars:
                chars[rng.randrange(len(chars))] = chr(
                    rng.choice((rng.randrange(32, 127), rng.randrange(0x10FFFF)))
                )
        return "".join(c for c in chars if not 0xD800 <= ord(c) < 0xE000)
    if kind == 1:
        return text[:at]
    if kind == 2:
        return text[:at] + text[rng.randrange(at, n + 1) :]
    if kind == 3:
        end = rng.randrange(at, n + 1)
        return text[:end] + text[at:end] * rng.randint(2, 50) + text[end:]
    if kind == 4 or kind == 5:  # a hostile token, at random or in place of a value
        token = rng.choice(HOSTILE)
        if kind == 5:
            for sep in (": ", "= "):
                spots = [i for i in range(n) if text.startswith(sep, i)]
                if spots:
                    i = rng.choice(spots) + len(sep)
                    j = i
                    while j < n and text[j] not in ",\n}":
                        j += 1
                    return text[:i] + token + text[j:]
        return text[:at] + token + text[at:]
    return text[:at] + rng.choice(HOSTILE) * rng.randint(1, 3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


def _one_line(message: str) -> None:
    assert message.strip() and "\n" not in message.strip(), message


# ------------------------------------------------------------------ export / import
@pytest.fixture
def export_text(tmp_path: Path) -> str:
    with Store(tmp_path / "source.sqlite3") as s:
        cid = s.create_conversation(title="Decorators", system_prompt="Be brief.", model="gpt-oss-20b")
        q = s.add_message(cid, None, "user", "Explain decorators")
        a = s.add_message(cid, q, "assistant", "They wrap.", "Recall wraps", stats={"answer_tokens": 2})
        s.add_message(cid, q, "assistant", "Another take.", model="m", effort="low")
        s.add_message(cid, a, "user", "And classes?")
        return dumps(export_json(s))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "history.sqlite3") as s:
        yield s


def _import(store: Store, text: str) -> None:
    try:
        import_json(store, read_export_file(text))
    except BadExportFile as e:
        _one_line(str(e))


def test_export_import_survives_hostile_variants(export_text: str, store: Store):
    rng = random.Random(13)
    for _ in range(N_VARIANTS):
        _import(store, mutate(export_text, rng))
    _import(store, export_text)  # and the real file still imports
    assert len(store.conversations()) >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    conv=st.dictionaries(
        st.sampled_from(["title", "messages", "active_root", "created", "updated", "pinned"]), json_values
    ),
    messages=st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "parent",
                    "role",
                    "text",
                    "reasoning",
                    "stats",
                    "active_child",
                    "model",
                    "created",
                    "status",
                ]
            ),
            json_values | st.integers(1, 3) | st.sampled_from(["user", "assistant"]),
        ),
        max_size=4,
    ),
)
def test_export_import_of_arbitrary_json_values(store: Store, conv: dict, messages: list):
    data = {
        "format": "fireside-conversations",
        "version": 1,
        "conversations": [{**conv, "messages": messages}],
    }
    try:
        text = json.dumps(data)
    except ValueError:
        return
    _import(store, text)


def test_deeply_nested_import_is_bad_input_in_the_cli(tmp_path: Path, fireside_home: Path):
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    r = subprocess.run(
        [*FIRESIDE_CLI, "conversations", "import", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FIRESIDE_HOME": str(fireside_home)},
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "nested too deeply" in r.stderr


# ------------------------------------------------------------------ policy
POLICY = {
    "allow_downloads": False,
    "allowed_efforts": ["low", "medium"],
    "default_effort": "low",
    "max_context": 8192,
    "user_model_dir": "~/models",
    "hub_endpoint": "https://hub.example.org",
    "allowed_models": [{"repo": "openai/gpt-oss-20b", "file": "a.gguf", "sha256": "0" * 64}],
    "update_checks": False,
}


def _policy(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    policy = load_policy()
    for problem in policy.problems:
        _one_line(str(problem))
    policy.as_json()
    for effort in ("low", "medium", "high"):
        policy.effort_refusal(effort)
    policy.download_refusal()
    policy.model_refusal("openai/gpt-oss-20b", "a.gguf")
    effective_settings(Settings(), policy)


def test_policy_survives_hostile_variants(tmp_path: Path):
    path = Path(os.environ["FIRESIDE_POLICY_FILE"])
    text = json.dumps(POLICY, indent=1)
    rng = random.Random(17)
    for _ in range(N_VARIANTS):
        _policy(path, mutate(text, rng))


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.sampled_from(sorted(POLICY)), json_values | st.text()))
def test_policy_of_arbitrary_json_values(values: dict):
    try:
        text = json.dumps(values)
    except ValueError:
        return
    _policy(Path(os.environ["FIRESIDE_POLICY_FILE"]), text)


# ------------------------------------------------------------------ settings
def test_settings_survive_hostile_variants(tmp_path: Path):
    path = tmp_path / "settings.toml"
    save_settings(Settings(last_model="/m/a b.gguf", recent_models=("/m/a b.gguf", "/m/c.gguf")), path)
    text = path.read_text(encoding="utf-8")
    rng = random.Random(19)
    for _ in range(N_VARIANTS):
        path.write_text(mutate(text, rng), encoding="utf-8")
        s = load_settings(path)
        assert isinstance(s, Settings)
        save_settings(s, path)  # what was read can be written back
        assert load_settings(path) == s


# ------------------------------------------------------------------ presets
def test_presets_survive_hostile_variants(store: Store):
    save_preset(store, Preset("Brief", "Be brief.", "low", temperature=0.5, top_k=40))
    save_preset(store, Preset("Long", "Be thorough.", "high", top_p=0.9, min_p=0.05))
    text = store.state(STATE_KEY)
    rng = random.Random(23)
    for _ in range(N_VARIANTS):
        store.set_state(STATE_KEY, mutate(text, rng))
        for p in load_presets(store):
            p.sampling(True)
            save_preset(store, p)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.lists(
        st.dictionaries(
            st.sampled_from(["name", "system_prompt", "effort", "temperature", "top_p", "top_k", "min_p"]),
            json_values,
        ),
        max_size=4,
    )
)
def test_presets_of_arbitrary_json_values(store: Store, entries: list):
    try:
        store.set_state(STATE_KEY, json.dumps(entries))
    except ValueError:
        return
    for p in load_presets(store):
        p.sampling(False)
