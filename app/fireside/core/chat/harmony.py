"""OpenAI's harmony format for gpt-oss: render a ChatRequest to prompt text, parse the reply stream.

Plain Python on purpose: the engine, the CLI and the tests share it, and the exact prompt text
matters (llama.cpp tokenizes it with special-token parsing on; prefix reuse needs it byte-stable).
"""

from __future__ import annotations

import datetime
import re

from fireside.core.chat.conversation import ChatRequest, Effort
from fireside.core.chat.events import AnswerDelta, Event, ReasoningDelta, ToolCall
from fireside.core.chat.harmony_history import render_history
from fireside.core.chat.harmony_tokens import (
    CONTROL_TOKENS,
    ZWSP,
    neutralise,
    strip_control_tokens,
)
from fireside.core.chat.harmony_tools import (
    FUNCTIONS_CHANNEL_NOTE,
    PYTHON_TIMEOUT_S,
    Namespace,
    python_namespace,
    tools_section,
)

__all__ = [
    "CONTROL_TOKENS",
    "MAX_HEADER",
    "ZWSP",
    "StreamParser",
    "neutralise",
    "render_prompt",
    "strip_control_tokens",
]

MAX_HEADER = 256  # a "header" longer than this without <|message|> is content, not a header

_START, _END, _MESSAGE, _CHANNEL, _CONSTRAIN, _RETURN, _CALL, _EOT, _SOT = CONTROL_TOKENS
_TOKEN_RE = re.compile("|".join(re.escape(t) for t in CONTROL_TOKENS))
_PREFIXES = frozenset(t[:k] for t in CONTROL_TOKENS for k in range(1, len(t)))
_LONGEST = max(len(t) for t in CONTROL_TOKENS)
_IN_HEADER = frozenset({_CHANNEL, _CONSTRAIN, _SOT})  # tokens that belong inside a header
_STREAM_ENDS = frozenset({_RETURN, _CALL, _EOT})
_REPEATED_CHANNEL_RE = re.compile(re.escape(_CHANNEL) + r"[^\s<]*")


# --------------------------------------------------------------------------------------- rendering


def render_prompt(
    request: ChatRequest,
    *,
    today: datetime.date | None = None,
    knowledge_cutoff: str = "2024-06",
    python_timeout_s: float = PYTHON_TIMEOUT_S,
) -> str:
    """The harmony prompt for the next assistant reply, ending with `<|start|>assistant`.

    As the `openai/harmony` library renders it (its test data is the reference): built-in tools
    (python) in the system message's `# Tools`, function tools in the developer message after the
    instructions, and the history as harmony messages (see `harmony_history`). `python_timeout_s` is the
    time limit the model is told for the python tool.
    """
    day = (today or datetime.date.today()).isoformat()
    channels = "# Valid channels: analysis, commentary, final. Channel must be included for every message."
    if request.tools:
        channels += "\n" + FUNCTIONS_CHANNEL_NOTE
    system = [
        "You are ChatGPT, a large language model trained by OpenAI.\n"
        f"Knowledge cutoff: {knowledge_cutoff}\nCurrent date: {day}",
        f"Reasoning: {Effort(request.effort).value}",
    ]
    if request.python_tool:
        system.append(tools_section([python_namespace(python_timeout_s)]))
    system.append(channels)
    parts = [f"{_START}system{_MESSAGE}" + "\n\n".join(system) + _END]
    developer = []
    if request.system_prompt.strip():
        developer += ["# Instructions", request.system_prompt]
    if request.tools:
        developer.append(tools_section([Namespace("functions", tools=request.tools)]))
    if developer:
        body = neutralise("\n\n".join(developer))
        parts.append(f"{_START}developer{_MESSAGE}{body}{_END}")
    parts += render_history(request.messages)
    parts.append(f"{_START}assistant")
    return "".join(parts)


# ----------------------------------------------------------------------------------------- parsing


def _partial_len(text: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a control token."""
    i = text.find("<", max(0, len(text) - _LONGEST + 1))
    while i != -1:
        if text[i:] in _PREFIXES:
            return len(text) - i
        i = text.find("<", i + 1)
    return 0


def _drop_partial(text: str) -> str:
    """At the end: drop a trailing `<|...` that could only have been a token; keep a lone `<`."""
    held = _partial_len(text)
    return text[: len(text) - held] if held >= 2 else text


def _parse_header(header: str) -> tuple[str, str, str, str]:
    """Split `[role][ to=x]<|channel|>name[ to=x][ type][<|constrain|>type]` into its fields.

    Returns (role, channel, recipient, content_type); a missing field is "".
    """
    header = header.replace(_SOT, " ")
    role_part, _, rest = header.partition(_CHANNEL)
    # A repeated `<|channel|>name` is dropped as a whole: it never becomes part of a recipient
    # (`functions.f<|channel|>analysis`, the Ollama #11704 failure) nor a content type.
    rest, _, constraint = _REPEATED_CHANNEL_RE.sub(" ", rest).partition(_CONSTRAIN)
    role_part, _, role_constraint = role_part.partition(_CONSTRAIN)
    constraint, role_constraint = (c.replace(_CONSTRAIN, " ") for c in (constraint, role_constraint))
    recipient = role = channel = ""
    extra: list[str] = []
    for word in role_part.split():
        if word.startswith("to="):
            recipient = recipient or word[3:]  # an empty `to=` names no one
        else:
            role = role or word
    for word in rest.split():
        if word.startswith("to="):
            recipient = recipient or word[3:]
        elif not channel:
            channel = word
        else:
            extra.append(word)
    content_type = (constraint or role_constraint).strip() or " ".join(extra)
    return role, channel, recipient, content_type


class StreamParser:
    """Turns the text generated after `<|start|>assistant` into reasoning, answer and tool calls.

    Routing: `analysis` -> ReasoningDelta; `final`, and `commentary` with no recipient (a preamble
    for the user) -> AnswerDelta; a message with a recipient (`to=...` in the role or channel part)
    -> one ToolCall when it ends. Content is streamed as soon as it cannot be the start of a control
    token; only a trailing possible token prefix (at most 14 characters) is held back. `<|return|>`,
    `<|call|>` and `<|endoftext|>` end the reply: `done` turns True and later text is ignored. The
    engine, not the parser, emits Done.

    Malformed output degrades to text, never to an exception or a leaked token:
    - text before any header (a model that skips `<|channel|>`), or plain text between `<|end|>` and
      `<|start|>`, is answer text once the next control token or finish() shows it was not a header;
    - a header with no channel, or an empty channel name, routes to the answer;
    - an unknown channel name routes to reasoning: text not meant for the user stays visible but
      never poses as the answer; so does a message from another role (a hallucinated tool result);
    - a header ended by anything but `<|message|>` is dropped if it holds structure (a control
      token, or it followed `<|start|>`), since there is no body to show;
    - a header longer than MAX_HEADER characters is re-read as answer text from its first character,
      with `<|channel|>`, `<|constrain|>` and `<|message|>` dropped until the message ends;
    - inside content, `<|channel|>` starts a new header (recovering a missing `<|end|><|start|>`),
      `<|start|>` ends the message; `<|message|>`, `<|constrain|>`, `<|startoftext|>` are dropped;
    - finish() flushes held text to the current message, dropping a trailing `<|...` that could only
      have been a control token (a lone `<` is kept), and emits a pending tool call with
      `incomplete=True` (the context or token limit cut it before `<|call|>`); a call cut inside
      its header comes out the same way with no arguments;
    - a recipient is one word: a repeated `<|channel|>name` in a header is dropped, so no token
      ever becomes part of a tool's name.
    Where dropping a token would join two pieces of text into control-token text (`<|en` + `d|>`),
    a zero width space goes between them: `answer` and `reasoning` never contain a control token.
    Results are the same however the text is split into chunks.
    """

    def __init__(self) -> None:
        self._buf = ""  # unprocessed text: a whole pending header, or a held token prefix
        self._in_header = True
        self._explicit = False  # the current header followed <|start|>, so its first word is a role
        self._loose = False  # an over-long header being read as content: header tokens are dropped
        self._route = "answer"  # "reasoning" | "answer" | "tool" for the current message
        self._tool: tuple[str, str, str] = ("", "", "")  # recipient, channel, content type
        self._args: list[str] = []
        self._text: dict[str, list[str]] = {"reasoning": [], "answer": []}
        self._tail = {"reasoning": "", "answer": ""}  # last characters emitted, for the guard
        self._guard: set[str] = set()  # routes that passed a dropped token since their last text
        self._done = False
        self._finished = False
        self.tool_calls: list[ToolCall] = []

    @property
    def done(self) -> bool:
        """True once the model ended its reply (`<|return|>`, `<|call|>` or `<|endoftext|>`)."""
        return self._done

    @property
    def reasoning(self) -> str:
        return "".join(self._text["reasoning"])

    @property
    def answer(self) -> str:
        return "".join(self._text["answer"])

    def feed(self, text: str) -> list[Event]:
        """Consume more generated text; return the events it completes (adjacent deltas merged)."""
        if self._done or self._finished or not text:
            return []
        self._buf += text
        out: list[Event] = []
        self._run(out, final=False)
        return out

    def finish(self) -> list[Event]:
        """The stream ended (or was cut): flush held text and any pending tool call. Idempotent."""
        if self._finished:
            return []
        self._finished = True
        out: list[Event] = []
        if not self._done:
            self._run(out, final=True)
        self._buf = ""
        return out

    # ---------------------------------------------------------------------------------- internals

    def _run(self, out: list[Event], final: bool) -> None:
        while not self._done:
            step = self._header_step if self._in_header else self._content_step
            if not step(out, final):
                return

    def _content_step(self, out: list[Event], final: bool) -> bool:
        match = _TOKEN_RE.search(self._buf)
        if match is None:
            held = _partial_len(self._buf)
            if final:
                self._emit(_drop_partial(self._buf), out)
                self._end_message(out, incomplete=True)
                self._buf = ""
            else:
                self._emit(self._buf[: len(self._buf) - held], out)
                self._buf = self._buf[len(self._buf) - held :]
            return False
        token = match.group()
        self._emit(self._buf[: match.start()], out)
        self._buf = self._buf[match.end() :]
        self._guard = {"reasoning", "answer"}
        if token in (_MESSAGE, _CONSTRAIN, _SOT) or (token == _CHANNEL and self._loose):
            return True
        self._end_message(out)
        if token == _CHANNEL:
            self._buf = token + self._buf
        self._after(token)
        return True

    def _header_step(self, out: list[Event], final: bool) -> bool:
        match = _TOKEN_RE.search(self._buf)
        while match is not None and match.group() in _IN_HEADER:  # header tokens: keep reading
            match = _TOKEN_RE.search(self._buf, match.end())
        if match is None:
            if len(self._buf) - _partial_len(self._buf) > MAX_HEADER:
                return self._header_as_content()
            if final:
                self._cut_header(_drop_partial(self._buf), out)
                self._buf = ""
            return False
        if match.start() > MAX_HEADER:
            return self._header_as_content()
        header, token = self._buf[: match.start()], match.group()
        self._buf = self._buf[match.end() :]
        if token != _MESSAGE:
            self._headerless(header, out)
        self._guard = {"reasoning", "answer"}
        if token == _MESSAGE:
            role, channel, recipient, content_type = _parse_header(header)
            self._in_header = False
            if self._explicit and role not in ("", "assistant"):
                self._route = "reasoning"
            elif recipient:
                self._route = "tool"
                self._tool = (recipient, channel or "commentary", content_type)
            elif channel == "analysis":
                self._route = "reasoning"
            else:
                self._route = "answer" if channel in ("", "final", "commentary") else "reasoning"
            return True
        if token == _START and not header.strip():
            self._explicit = True
            return True
        self._after(token)
        return True

    def _header_as_content(self) -> bool:
        """Re-read the pending header from its first character as answer text (see class doc)."""
        self._in_header, self._loose, self._route = False, True, "answer"
        return True

    def _headerless(self, header: str, out: list[Event]) -> None:
        """A header ended without `<|message|>`: prose becomes answer text, structure is dropped."""
        if not self._structured(header) and header.strip():
            self._emit(header, out, route="answer")

    def _structured(self, header: str) -> bool:
        """Header-shaped: it followed `<|start|>`, holds a header token, or opens with `to=` (a
        recipient in the role position right after the prompt's `<|start|>assistant`)."""
        words = header.split()
        return (
            self._explicit
            or _TOKEN_RE.search(header) is not None
            or bool(words and words[0].startswith("to="))
        )

    def _after(self, token: str) -> None:
        """Enter the state that follows a message- or header-ending token."""
        if token in _STREAM_ENDS:
            self._done = True
        self._in_header, self._explicit, self._loose = True, token == _START, False

    def _cut_header(self, header: str, out: list[Event]) -> None:
        """The stream ended inside a header: one that names a recipient was a tool call cut off
        before its body, and comes out as an incomplete call with no arguments."""
        _, channel, recipient, content_type = _parse_header(header)
        if recipient and self._structured(header):
            self._route, self._tool = "tool", (recipient, channel or "commentary", content_type)
            self._end_message(out, incomplete=True)
        else:
            self._headerless(header, out)

    def _end_message(self, out: list[Event], incomplete: bool = False) -> None:
        if self._route == "tool":
            recipient, channel, content_type = self._tool
            args = "".join(self._args)
            call = ToolCall(recipient, args, channel, content_type, incomplete=incomplete)
            self.tool_calls.append(call)
            out.append(call)
        self._route, self._args, self._loose = "answer", [], False

    def _emit(self, text: str, out: list[Event], route: str | None = None) -> None:
        route = route or self._route
        if not text:
            return
        if route == "tool":
            self._args.append(text)
            return
        if route in self._guard:
            self._guard.discard(route)
            if _partial_len(self._tail[route]):
                text = ZWSP + text
        self._text[route].append(text)
        self._tail[route] = (self._tail[route] + text)[-_LONGEST:]
        kind = ReasoningDelta if route == "reasoning" else AnswerDelta
        last = out[-1] if out else None
        if isinstance(last, kind):
            out[-1] = kind(last.text + text)
        else:
            out.append(kind(text))
