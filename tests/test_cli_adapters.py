"""LoRA adapters from the terminal: `models import|list|remove|pull --adapter`, `chat --lora`, doctor
and the policy's allowed_adapters, as a user runs them (subprocesses, the real engine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers.hf_server import HubServer
from tests.helpers.lora import lora_for
from tests.test_cli import fireside
from tests.test_cli_models import _one_line, models


@pytest.fixture(scope="module")
def legal(tiny_gptoss_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lora_for(tiny_gptoss_path, tmp_path_factory.mktemp("adapters") / "legal.gguf", rank=8,
                    alpha=8.0)


def _reply(*args: str, model: Path, home: Path) -> tuple[str, dict[str, object]]:
    r = fireside("chat", "--model", str(model), "--json", "--max-tokens", "16", "--temperature", "0",
                 "--no-save", *args, "Tell me about the sea.", home=home)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    return "".join(str(rec.get("text", "")) for rec in records), records[-1]["stats"]


def test_import_list_chat_with_the_adapter_by_name_and_remove(tiny_gptoss_path: Path, legal: Path,
                                                              fireside_home: Path):
    r = models("import", "--adapter", str(legal), home=fireside_home)
    assert r.returncode == 0, r.stderr
    assert "rank 8" in r.stdout and "attn_q" in r.stdout
    listed = json.loads(models("list", "--json", home=fireside_home).stdout)
    assert listed["installed"] == []  # an adapter is not a model
    (row,) = listed["adapters"]
    assert (row["name"], row["architecture"], row["rank"], row["alpha"], row["linked"]) == (
        "legal.gguf", "gpt-oss", 8, 8.0, True)
    assert row["targets"] == ["attn_k", "attn_output", "attn_q", "attn_v"]
    assert row["size"] == legal.stat().st_size
    text = models("list", home=fireside_home).stdout
    assert "legal.gguf" in text and "for gpt-oss, rank 8, alpha 8" in text

    base, base_stats = _reply(model=tiny_gptoss_path, home=fireside_home)
    adapted, stats = _reply("--lora", "legal:0.5", model=tiny_gptoss_path, home=fireside_home)
    assert adapted != base
    assert base_stats["adapters"] == [] and stats["adapters"] == ["legal:0.5"]
    zero, _ = _reply("--lora", "legal:0", model=tiny_gptoss_path, home=fireside_home)
    assert zero == base

    doctor = fireside("doctor", "--json", home=fireside_home)
    assert json.loads(doctor.stdout)["adapters"][0]["rank"] == 8

    rm = models("remove", "--adapter", "legal", home=fireside_home)
    assert rm.returncode == 0 and legal.is_file()
    assert json.loads(models("list", "--json", home=fireside_home).stdout)["adapters"] == []


def test_chat_prints_the_adapters_in_its_figures(tiny_gptoss_path: Path, legal: Path,
                                                 fireside_home: Path):
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--max-tokens", "4", "--no-save",
                 "--lora", f"{legal}:0.25", "Hi", home=fireside_home)
    assert r.returncode == 0, r.stderr
    assert "adapters: legal:0.25]" in r.stderr


def test_bad_adapters_exit_2_with_one_line(tiny_gptoss_path: Path, gemma_path: Path, legal: Path,
                                           fireside_home: Path, tmp_path: Path):
    other = lora_for(gemma_path, tmp_path / "gemma-lora.gguf", rank=4)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(legal.read_bytes()[:-64])
    cases = {
        "made for gemma3 models": ("--lora", str(other)),
        "incomplete": ("--lora", str(cut)),
        "No adapter file": ("--lora", "nothing-here"),
        "is not a scale": ("--lora", f"{legal}:lots"),
        "given twice": ("--lora", str(legal), "--lora", f"{legal}:0.5"),
        "is a model, not an adapter": ("--lora", str(tiny_gptoss_path)),
    }
    for expected, args in cases.items():
        r = fireside("chat", "--model", str(tiny_gptoss_path), *args, "Hi", home=fireside_home)
        assert r.returncode == 2, (expected, r.stderr)
        assert expected in _one_line(r)
    for path, expected in ((tiny_gptoss_path, "is a model"), (cut, "incomplete")):
        r = models("import", "--adapter", str(path), home=fireside_home)
        assert r.returncode == 2 and expected in _one_line(r)
    r = models("remove", "--adapter", "nothing", home=fireside_home)
    assert r.returncode == 2 and "No installed adapter" in _one_line(r)


def test_policy_allows_only_listed_adapters(tiny_gptoss_path: Path, legal: Path, tmp_path: Path,
                                            fireside_home: Path):
    policy = tmp_path / "policy.json"  # FIRESIDE_POLICY_FILE (tests/conftest.py)
    policy.write_text(json.dumps({"allowed_adapters": [{"file": "legal.gguf", "sha256": "0" * 64}]}))
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--lora", str(legal), "Hi",
                 home=fireside_home)
    assert r.returncode == 2 and "allowed_adapters" in _one_line(r)
    r = models("import", "--adapter", str(legal), home=fireside_home)
    assert r.returncode == 2 and "allowed_adapters" in _one_line(r)
    digest = hashlib.sha256(legal.read_bytes()).hexdigest()
    policy.write_text(json.dumps({"allowed_adapters": [{"file": "legal.gguf", "sha256": digest}]}))
    _, stats = _reply("--lora", str(legal), model=tiny_gptoss_path, home=fireside_home)
    assert stats["adapters"] == ["legal:1"]


def test_pull_an_adapter_through_the_verified_downloader(legal: Path, fireside_home: Path):
    repo = "someone/legal-lora-GGUF"
    with HubServer({repo: {"legal.gguf": legal.read_bytes(), "model.gguf": b"GGUF" + b"\0" * 60}}
                   ) as hub:
        r = models("pull", "--adapter", repo, "legal.gguf", home=fireside_home, endpoint=hub.hub_url)
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()).read_bytes() == legal.read_bytes()
        bad = models("pull", "--adapter", repo, "model.gguf", home=fireside_home,
                     endpoint=hub.hub_url)
        last = bad.stderr.strip().splitlines()[-1]  # after the download's progress lines
        assert bad.returncode == 1 and last.startswith("fireside: ") and "not a usable adapter" in last
    listed = json.loads(models("list", "--json", home=fireside_home).stdout)["adapters"]
    assert [a["name"] for a in listed] == ["legal.gguf"]
