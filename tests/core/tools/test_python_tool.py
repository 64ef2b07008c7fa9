"""The python tool by conversation: work folders, sessions, eviction, and where it is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from fireside.core.tools import python_sandbox, python_tool
from fireside.core.tools.isolation import IsolationReport, isolation_report
from fireside.core.tools.limits import DEFAULT_LIMITS, SandboxLimits, describe_for_model
from fireside.core.tools.python_tool import PythonTool, enabled_by_default


def test_each_conversation_has_its_own_folder_and_variables(tmp_path: Path) -> None:
    tool = PythonTool(tmp_path / "python")
    try:
        assert tool.available and tool.unavailable_reason == ""
        assert not tool.run("chat-1", "v = 'one'\nopen('f.txt', 'w').write(v)").error
        assert tool.run("chat-2", "v").error
        assert tool.run("chat-1", "v").output == "'one'"
        assert (tmp_path / "python" / "chat-1" / "f.txt").read_text() == "one"
        assert tool.work_dir("../../etc") == tmp_path / "python" / "_.._etc"
        tool.close("chat-1", delete_files=True)
        assert not (tmp_path / "python" / "chat-1").exists()
    finally:
        tool.close_all()


def test_the_least_recently_used_session_is_closed_and_its_next_call_says_so(tmp_path: Path) -> None:
    tool = PythonTool(tmp_path, max_live=1)
    try:
        tool.run("a", "x = 1")
        tool.run("b", "x = 2")  # closes a's process
        out = tool.run("a", "x")
        assert out.error and out.restarted and "closed to free memory" in out.output
        assert "NameError" in out.output
        assert tool.run("a", "x = 3; x").output == "3"
    finally:
        tool.close_all()


def test_where_isolation_cannot_be_enforced_the_tool_is_off_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = IsolationReport("Plan9 1 mips", problems=("the kernel has no Landlock",))
    for module in (python_tool, python_sandbox):
        monkeypatch.setattr(module, "isolation_report", lambda: bare)
    assert not enabled_by_default(bare) and enabled_by_default(isolation_report())
    tool = PythonTool(tmp_path)
    assert not tool.available and "the kernel has no Landlock" in tool.unavailable_reason
    out = tool.run("c", "print(1)")
    assert out.error and "off" in out.output and "the kernel has no Landlock" in out.output
    assert not (tmp_path / "c").exists()
    assert any("off by default" in line for line in bare.lines())


def test_limits_are_checked_and_described_for_the_model() -> None:
    assert describe_for_model(DEFAULT_LIMITS) == {"timeout": "120 seconds", "memory": "4 GiB",
                                                  "output": "64 KiB"}
    assert describe_for_model(SandboxLimits(wall_time_s=30, memory_bytes=1536 * 2**20))["memory"] == "1.5 GiB"
    with pytest.raises(ValueError, match="time limit must be at least"):
        SandboxLimits(wall_time_s=0)
    with pytest.raises(ValueError, match="memory limit"):
        SandboxLimits(memory_bytes=1000)
    with pytest.raises(ValueError):
        SandboxLimits(cpu_time_s=float("nan"))
    custom = SandboxLimits(wall_time_s=5, output_bytes=4096)
    assert SandboxLimits.from_json(custom.as_json()) == custom
    assert SandboxLimits.from_json({}) == DEFAULT_LIMITS


def test_isolation_report_on_this_machine() -> None:
    report = isolation_report()
    assert report.landlock_abi >= 4 and report.enforced, report  # the CI kernel reports ABI 7
    assert IsolationReport.from_json(report.as_json()) == report
    lines = report.lines()
    assert lines[0].startswith("Writes outside the work folder: blocked (Landlock ABI")
    assert "TCP blocked by Landlock" in lines[1] and "sockets blocked by seccomp" in lines[1]


def test_doctor_shows_the_sandbox_isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fireside.core.admin import doctor

    monkeypatch.setenv("FIRESIDE_HOME", str(tmp_path / "home"))
    report = doctor.report()
    sandbox = report["python_tool"]
    assert sandbox["enforced"] and sandbox["landlock_abi"] >= 4 and sandbox["network_sockets"], sandbox
    text = doctor.format_text(report)
    assert "Python tool sandbox:\n  Writes outside the work folder: blocked (Landlock ABI" in text
