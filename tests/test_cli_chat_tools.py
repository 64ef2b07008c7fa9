"""`fireside chat` with tools, as its contract says: --python, --tools, --messages, --allow-tools,
--json-schema, --print-prompt. The real engine on the tiny gpt-oss GGUF, forced (tests/helpers/
forcing.py) to make the call a real gpt-oss would; the real python sandbox runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fireside.cli import main
from fireside.core.engine import llama_engine
from tests.helpers.forcing import ForcingSampler

PYTHON_CALL = "<|channel|>analysis to=python code<|message|>print(6 * 7)<|call|>"
WEATHER_CALL = ('<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>'
                '{"city":"Paris"}<|call|>')
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the CLI's engine open its first reply with `text` (later steps run free)."""
    real = llama_engine.LlamaEngine

    def arrange(text: str) -> None:
        forcing = ForcingSampler()

        class Forced(real):  # type: ignore[misc, valid-type]
            def load(self, path: str, config: Any = None) -> Any:
                info = super().load(path, config)
                forcing.force_text(self, text)
                return info

        monkeypatch.setattr(llama_engine, "LlamaEngine",
                            lambda **kw: Forced(sampler_factory=forcing, **kw))

    return arrange


Events = list[dict[str, Any]]


def chat(capsys: pytest.CaptureFixture[str], model: Path, *args: str) -> tuple[int, Events, str]:
    code = main(["chat", "--model", str(model), "--json", "--no-save", "--max-tokens", "120",
                 "--threads", "1", "--seed", "1", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_a_python_call_runs_with_allow_tools_and_prints_call_and_result(
        forced: Callable[[str], None], tiny_gptoss_path: Path, fireside_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    forced(PYTHON_CALL)
    code, events, _err = chat(capsys, tiny_gptoss_path, "--python", "--allow-tools", "Six times seven?")
    assert code == 0
    kinds = [e["type"] for e in events]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("done")
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["name"], call["arguments"]) == ("python", "print(6 * 7)")
    assert (result["name"], result["output"].strip(), result["error"]) == ("python", "42", False)
    assert result["outcome"] == "ok"
    assert result["call_id"] == call["call_id"] and call["call_id"].startswith("call_")


def test_without_consent_the_call_is_refused_with_one_line(
        forced: Callable[[str], None], tiny_gptoss_path: Path, fireside_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    forced(PYTHON_CALL)
    code, events, err = chat(capsys, tiny_gptoss_path, "--python", "Six times seven?")
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["error"] and "declined" in result["output"] and result["outcome"] == "declined"
    assert "fireside: not running python: give --allow-tools to let the model run tools." in err
    assert code == 0 and events[-1]["type"] == "done"


def test_a_client_function_ends_the_reply_for_the_caller_to_run(
        forced: Callable[[str], None], tiny_gptoss_path: Path, fireside_home: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tools.json").write_text(json.dumps(TOOLS))
    forced(WEATHER_CALL)
    code, events, _err = chat(capsys, tiny_gptoss_path, "--tools", str(tmp_path / "tools.json"),
                              "Weather in Paris?")
    assert code == 0
    assert [e["type"] for e in events][-2:] == ["tool_call", "done"]
    call = events[-2]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Paris"})
    assert events[-1]["stats"]["stop_reason"] == "tool_call"
    assert not [e for e in events if e["type"] == "tool_result"]


def fireside(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fireside.cli", *args], capture_output=True,
                          text=True, timeout=120, env={"FIRESIDE_HOME": str(home), "PATH": "/usr/bin:/bin"})


def test_print_prompt_renders_messages_tools_and_the_python_tool(
        tiny_gptoss_path: Path, fireside_home: Path, tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "reasoning_content": "Use the tool.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
    ]
    (tmp_path / "m.json").write_text(json.dumps(messages))
    (tmp_path / "t.json").write_text(json.dumps(TOOLS))
    r = fireside("chat", "--model", str(tiny_gptoss_path), "--print-prompt", "--python",
                 "--messages", str(tmp_path / "m.json"), "--tools", str(tmp_path / "t.json"),
                 home=fireside_home)
    assert r.returncode == 0, r.stderr
    p = r.stdout
    assert "# Instructions\n\nBe brief." in p and "namespace functions {" in p
    assert "type get_weather = (_: {\ncity: string,\n}) => any;" in p
    assert "## python" in p and "Calls to these tools must go to the commentary channel: 'functions'." in p
    # the call, its reasoning (the turn is still going) and its result, as harmony renders them
    assert ("<|start|>assistant<|channel|>analysis<|message|>Use the tool.<|end|>"
            "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"
            '<|message|>{"city":"Paris"}<|call|>') in p
    assert p.endswith("<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
                      "18 C, sunny<|end|><|start|>assistant")


@pytest.mark.parametrize(("name", "content", "says"), [
    ("--messages", "[{\"role\": \"robot\", \"content\": \"hi\"}]", "unknown role 'robot'"),
    ("--messages", "[" * 100_000, "nested too deeply"),
    ("--tools", "[{\"type\": \"web_search\"}]", "only function tools"),
    ("--json-schema", "{\"type\": \"object\", \"properties\": {\"a\": {\"$ref\": \"https://x/y\"}}}",
     "--json-schema"),
    ("--json-schema", "[1, 2]", "a JSON Schema is a JSON object"),
])
def test_bad_files_exit_2_with_one_line(tiny_gptoss_path: Path, fireside_home: Path, tmp_path: Path,
                                        name: str, content: str, says: str) -> None:
    (tmp_path / "f.json").write_text(content)
    r = fireside("chat", "--model", str(tiny_gptoss_path), name, str(tmp_path / "f.json"), "hi",
                 home=fireside_home)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and says in r.stderr and "Traceback" not in r.stderr
