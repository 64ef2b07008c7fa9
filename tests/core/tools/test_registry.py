"""The tool registry against real MCP servers: the SDK's, one written from the protocol alone
(both over stdio) and the SDK's over streamable HTTP; dying, hanging and flooding servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import FunctionTool
from fireside.core.tools.registry import MAX_OUTPUT_CHARS, ToolRegistry, model_names
from tests.core.tools.conftest import RAW_SERVER, SDK_SERVER, make_paths, stdio, write_mcp_json

DEMO_TOOLS = ["demo__add", "demo__big", "demo__die", "demo__echo", "demo__hang", "demo__pid"]
RAW_TOOLS = ["raw__crash", "raw__reverse", "raw__weird_name_with_dots"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolRegistry]:
    """One registry with both stdio servers, shared by the tests that only call tools."""
    paths = make_paths(tmp_path_factory.mktemp("shared-home"))
    write_mcp_json(paths, {"demo": stdio(SDK_SERVER), "raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([]), connect_timeout=60) as registry:
        yield registry


def test_both_stdio_servers_list_as_function_tools_in_a_stable_order(shared: ToolRegistry):
    tools = shared.function_tools()
    assert [t.name for t in tools] == DEMO_TOOLS + RAW_TOOLS  # mcp.json order, then by name
    add = tools[0]
    assert isinstance(add, FunctionTool) and add.description == "Add two whole numbers."
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a", "b"]
    reverse = next(t for t in tools if t.name == "raw__reverse")
    assert reverse.parameters["required"] == ["text"]
    assert {s.name: s.state for s in shared.servers()} == {"demo": "running", "raw": "running"}


def test_sdk_server_call_returns_a_tool_result(shared: ToolRegistry):
    r = shared.call("functions.demo__add", '{"a": 2, "b": 40}', call_id="call_1")
    assert (r.recipient, r.output, r.error, r.call_id) == ("functions.demo__add", "42", False, "call_1")
    assert 0 < r.duration_s < 30
    # the server's own validation error comes back as an error result the model can read
    bad = shared.call("demo__add", '{"a": "two"}')
    assert bad.error and "validation error" in bad.output


def test_protocol_alone_server_call_and_a_name_no_function_may_have(shared: ToolRegistry):
    assert shared.call("raw__reverse", '{"text": "abc"}').output == "cba"
    weird = shared.call("raw__weird_name_with_dots", "")  # empty arguments are {}
    assert (weird.output, weird.error) == ("weird ok", False)


def test_malformed_arguments_and_unknown_names_are_clear_results(shared: ToolRegistry):
    cases = {
        ("demo__add", '{"a": 1,'): "are not valid JSON (line 1, column 9",
        ("demo__add", "[1, 2]"): "must be a JSON object with the tool's parameters, not a list",
        ("demo__add", "null"): "not null",
        ("demo__add", "[" * 100_000): "",  # must not crash; JSON error or nesting, either is fine
        ("demo__nope", "{}"): "There is no tool named 'demo__nope'. Available tools: demo__add",
        ("functions.assistant<|channel|>analysis", "{}"): "There is no tool named",
    }
    for (name, args), expected in cases.items():
        r = shared.call(name, args)
        assert r.error, (name, args)
        assert expected in r.output and "\n" not in r.output and "Traceback" not in r.output


def test_huge_result_is_capped_with_a_note(shared: ToolRegistry):
    r = shared.call("demo__big", json.dumps({"n": 3_000_000}))
    assert not r.error
    assert r.output.startswith("x" * MAX_OUTPUT_CHARS)
    assert r.output.endswith(f"[Output cut: the tool returned 3,000,000 characters; only the first "
                             f"{MAX_OUTPUT_CHARS:,} are shown.]")
    assert len(r.output) < MAX_OUTPUT_CHARS + 200


def test_a_hanging_tool_times_out_and_the_server_keeps_working(shared: ToolRegistry):
    t0 = time.perf_counter()
    r = shared.call("demo__hang", "{}", timeout=1.0)
    elapsed = time.perf_counter() - t0
    assert r.error and r.output == "MCP server 'demo' did not answer within 1 s while running 'hang'."
    assert elapsed < 10
    assert shared.call("demo__echo", '{"text": "still here"}').output == "still here"


def test_a_server_that_dies_mid_call_is_an_error_then_restarted(shared: ToolRegistry):
    first = shared.call("demo__pid", "{}").output
    r = shared.call("demo__die", "{}")
    assert r.error
    assert "MCP server 'demo' stopped while running 'die'" in r.output
    assert "exiting on purpose" in r.output  # the server's last words, from its stderr log
    assert "restarted on the next call" in r.output
    assert {s.name: s.state for s in shared.servers()}["demo"] == "failed"
    again = shared.call("demo__pid", "{}")
    assert not again.error and again.output != first  # a new process
    assert {s.name: s.state for s in shared.servers()}["demo"] == "running"
    # the protocol-alone server too
    crash = shared.call("raw__crash", "{}")
    assert crash.error and "raw server: crashing" in crash.output
    assert shared.call("raw__reverse", '{"text": "ok"}').output == "ko"
    # and the offered tools did not change: the prompt prefix stays the same
    assert [t.name for t in shared.function_tools()] == DEMO_TOOLS + RAW_TOOLS


def test_streamable_http_server(http_server: str, tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"web": {"url": http_server, "headers": {"X-Test": "1"}}})
    with ToolRegistry(paths, load_policy([])) as registry:
        names = [t.name for t in registry.function_tools()]
        assert names == [n.replace("demo__", "web__") for n in DEMO_TOOLS]
        r = registry.call("web__echo", '{"text": "over http"}')
        assert (r.output, r.error) == ("over http", False)
        assert registry.servers()[0].transport == "http"
        slow = registry.call("web__hang", "{}", timeout=1.0)
        assert slow.error and "did not answer within 1 s" in slow.output


def test_unreachable_and_missing_servers_are_reported_not_raised(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"gone": {"command": "fireside-no-such-program"},
                           "closed": {"url": "http://127.0.0.1:9/mcp"},
                           "raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([]), connect_timeout=20) as registry:
        assert [t.name for t in registry.function_tools()] == RAW_TOOLS
        status = {s.name: s for s in registry.servers()}
        assert status["gone"].state == "failed"
        assert "fireside-no-such-program was not found" in status["gone"].error
        assert status["closed"].state == "failed" and status["closed"].error
        assert status["raw"].state == "running"


def test_tool_lists_are_cached_per_server_config_so_listing_starts_nothing(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([])) as first:
        offered = first.function_tools()
    with ToolRegistry(paths, load_policy([])) as second:
        assert second.function_tools() == offered  # identical, so the KV prefix is reused
        s = second.servers()[0]
        assert (s.state, s.tools, s.tools_from_cache) == ("not started", 3, True)
        assert second.call("raw__reverse", '{"text": "ab"}').output == "ba"  # starts it lazily
        assert second.servers()[0].state == "running"
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER, "--changed")})  # another config: no cache
    with ToolRegistry(paths, load_policy([])) as third:
        assert third.entries(start=False)[1:] == []


def test_tool_and_server_switches_and_always_allow_persist_beside_mcp_json(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([])) as registry:
        registry.function_tools()
        assert registry.set_tool_enabled("raw__crash", False) == ""
        assert registry.set_always_allow("raw__reverse", True) == ""
        assert [t.name for t in registry.function_tools()] == ["raw__reverse", "raw__weird_name_with_dots"]
        r = registry.call("raw__crash", "{}")
        assert r.error and "turned off in Fireside" in r.output
    saved = json.loads((paths.config / "tools.json").read_text())
    assert saved["servers"]["raw"] == {"disabled_tools": ["crash"], "always_allow": ["reverse"]}
    with ToolRegistry(paths, load_policy([])) as again:
        assert again.always_allowed("functions.raw__reverse") and not again.always_allowed("raw__crash")
        again.set_server_enabled("raw", False)
        assert again.function_tools() == ()
        states = {e.name: e.state for e in again.entries()}
        assert states["raw__reverse"] == "server off" and again.servers()[0].state == "off"


def test_model_names_are_harmony_safe_unique_and_deterministic():
    pairs = [("my server", "get-weather"), ("my.server", "get weather"), ("1password", "read"),
             ("s", "t" * 100), ("s", "t" * 100 + "u"), ("", "")]
    names = model_names(pairs)
    assert names[("my server", "get-weather")] == "my_server__get_weather"
    assert names[("my.server", "get weather")].startswith("my_server__get_weather_")  # collision
    assert names[("1password", "read")] == "mcp_1password__read"
    assert len(set(names.values())) == len(pairs)
    assert all(len(n) <= 64 and n.replace("_", "").isalnum() and n[0].isalpha() for n in names.values())
    assert model_names(pairs) == names


def test_an_edited_mcp_json_is_picked_up_at_the_next_listing(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"raw": stdio(RAW_SERVER)})
    with ToolRegistry(paths, load_policy([])) as registry:
        assert [t.name for t in registry.function_tools()] == RAW_TOOLS
        write_mcp_json(paths, {"again": stdio(RAW_SERVER, "--other"), "raw": stdio(RAW_SERVER)})
        names = [t.name for t in registry.function_tools()]
        assert names == [n.replace("raw__", "again__") for n in RAW_TOOLS] + RAW_TOOLS
        assert registry.call("again__reverse", '{"text": "xy"}').output == "yx"
        (paths.config / "mcp.json").write_text("{broken", encoding="utf-8")  # a broken edit
        registry.function_tools()
        assert registry.function_tools() == ()
        assert any("not valid JSON" in p for p in registry.problems)


def test_a_server_stuck_at_start_is_reported_and_a_greeting_on_stdout_is_survived(tmp_path: Path):
    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"mute": stdio(RAW_SERVER, "--mute"), "chatty": stdio(RAW_SERVER, "--banner")})
    with ToolRegistry(paths, load_policy([]), connect_timeout=2) as registry:
        t0 = time.perf_counter()
        names = [t.name for t in registry.function_tools()]
        assert time.perf_counter() - t0 < 20
        assert names == [n.replace("raw__", "chatty__") for n in RAW_TOOLS]
        mute = registry.servers()[0]
        assert mute.state == "failed" and mute.error == "MCP server 'mute' did not start within 2 s."
        r = registry.call("mute__reverse", "{}")
        assert r.error and "did not start within 2 s" in r.output
        assert registry.call("chatty__reverse", '{"text": "ab"}').output == "ba"


def test_non_text_results_are_described_for_the_model():
    from mcp.types import (
        BlobResourceContents,
        CallToolResult,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    from fireside.core.tools.mcp_client import result_text

    result = CallToolResult(content=[
        TextContent(text="hello"),
        ImageContent(data="AAAA" * 100, mime_type="image/png"),
        ResourceLink(uri="file:///tmp/a.txt", name="a"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///b", text="inline text")),
        EmbeddedResource(resource=BlobResourceContents(uri="file:///c.bin", blob="AAAA")),
    ])
    assert result_text(result).splitlines() == [
        "hello", "[image image/png, about 300 bytes, not shown]", "[resource file:///tmp/a.txt]",
        "inline text", "[binary resource file:///c.bin]"]
    assert result_text(CallToolResult(content=[], structured_content={"t": 21})) == '{"t": 21}'


def test_stop_calls_ends_a_running_call_at_once_and_the_server_stays_up(tmp_path: Path):
    import threading

    paths = make_paths(tmp_path)
    write_mcp_json(paths, {"demo": stdio(SDK_SERVER)})
    with ToolRegistry(paths, load_policy([]), connect_timeout=60) as registry:
        first = registry.call("demo__pid", "{}").output
        results = []
        worker = threading.Thread(target=lambda: results.append(registry.call("demo__hang", "{}",
                                                                              timeout=120)))
        worker.start()
        deadline = time.monotonic() + 30
        while registry.stop_calls() == 0:  # until the call is in flight
            assert time.monotonic() < deadline
            threading.Event().wait(0.01)  # sleep-ok: polling for the call to start
        worker.join(30)
        assert not worker.is_alive()
        assert results[0].error and results[0].output == "The call was stopped before it finished."
        assert registry.call("demo__pid", "{}").output == first  # same process, still serving
