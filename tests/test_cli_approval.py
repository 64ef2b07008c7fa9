"""`fireside chat`'s approval prompt (CliHost): yes runs the call, anything else, the end of input
or a terminal that cannot be read refuses it with one line saying how to allow tools. Answers come
from an injected stream here; the default, the terminal itself, is checked on a real pty."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from fireside.cli.chat import CliHost
from fireside.core.chat.events import ToolCall

CALL = ToolCall("python", "print(6 * 7)", "analysis")
REFUSED = "fireside: not running python: give --allow-tools to let the model run tools.\n"
QUESTION = "\nThe model wants to run python:\nprint(6 * 7)\nRun it? [y/N] "


@pytest.mark.parametrize("typed", ["y\n", "yes\n", " YES \n", "Y"])
def test_a_yes_runs_the_call(typed: str) -> None:
    err = io.StringIO()
    assert CliHost(allow=False, ask=True, answers=io.StringIO(typed), err=err).approve(CALL)
    assert err.getvalue() == QUESTION


@pytest.mark.parametrize("typed", ["n\n", "\n", "no\n", "yep\n"])
def test_anything_else_refuses_with_one_line(typed: str) -> None:
    err = io.StringIO()
    assert not CliHost(allow=False, ask=True, answers=io.StringIO(typed), err=err).approve(CALL)
    assert err.getvalue() == QUESTION + REFUSED


def test_the_end_of_input_refuses_on_a_line_of_its_own() -> None:
    err = io.StringIO()
    assert not CliHost(allow=False, ask=True, answers=io.StringIO(""), err=err).approve(CALL)
    assert err.getvalue() == QUESTION + "\n" + REFUSED


def test_each_question_reads_the_next_answer() -> None:
    answers, err = io.StringIO("y\nn\n"), io.StringIO()
    host = CliHost(allow=False, ask=True, answers=answers, err=err)
    assert [host.approve(CALL), host.approve(CALL), host.approve(CALL)] == [True, False, False]
    assert err.getvalue().count(REFUSED) == 2


def test_a_terminal_that_cannot_be_read_refuses() -> None:
    class Broken(io.StringIO):
        def readline(self, size: int | None = -1, /) -> str:
            raise OSError(5, "Input/output error")

    err = io.StringIO()
    assert not CliHost(allow=False, ask=True, answers=Broken(), err=err).approve(CALL)
    assert err.getvalue().endswith(REFUSED)


def test_allow_tools_never_asks_and_not_interactive_never_reads() -> None:
    class Unread(io.StringIO):
        def readline(self, size: int | None = -1, /) -> str:
            raise AssertionError("read an answer it should not ask for")

    err = io.StringIO()
    assert CliHost(allow=True, ask=True, answers=Unread(), err=err).approve(CALL)
    assert not CliHost(allow=False, ask=False, answers=Unread(), err=err).approve(CALL)
    assert err.getvalue() == REFUSED


def test_by_default_the_answer_comes_from_the_terminal(tmp_path: Path) -> None:
    """A child in its own session with a pty as its terminal: stdin is a pipe, the yes is typed on
    the terminal, as when `fireside chat` is run with its input redirected."""
    master, slave = pty.openpty()
    script = ("import os, sys\n"
              "os.setsid()\n"
              "os.close(os.open(sys.argv[1], os.O_RDWR))  # the pty becomes the controlling terminal\n"
              "from fireside.cli.chat import CliHost\n"
              "from fireside.core.chat.events import ToolCall\n"
              "print(CliHost(allow=False, ask=True).approve(ToolCall('python', 'print(1)')))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        os.write(master, b"y\n")  # typed ahead: the terminal keeps it until it is read
        done = subprocess.run([sys.executable, "-c", script, os.ttyname(slave)], input="",
                              capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n" and "Run it? [y/N]" in done.stderr
