"""The conversation service: one turn, end to end, for every front end.

The window (through its inference worker), `fireside chat` and the API server all run a turn the
same way: `ChatSession` records the question, fits the conversation to the context (asking the
front end before leaving older messages out), streams the engine's events, records the reply as
it grows (a partial save about twice a second, durable every 5 s: `history.recorder`) and
finishes it with its stats and status. Edit, regenerate and branch switching are its operations,
so a front end only parses input and shows output.

It yields the core's events (`chat.events`) plus a few of its own, below, and never raises for
what a person can cause: a failure is a `Failed` event carrying a sentence to show. It is not
thread-safe: it runs on whichever thread owns the engine (the window's inference worker, the
CLI's main thread, the server's engine thread). `Store` is thread-safe, so the window can read
the history on the GUI thread meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from fireside.core.chat.context_fit import Overflow, fit_to_context
from fireside.core.chat.conversation import (
    AdapterUse,
    ChatRequest,
    Effort,
    FunctionTool,
    Message,
    Sampling,
)
from fireside.core.chat.events import (
    AnswerDelta,
    Done,
    Event,
    ReasoningDelta,
    ReplyStats,
    ToolCall,
    ToolResult,
)
from fireside.core.engine.protocol import ContextOverflow, Engine, EngineError
from fireside.core.history.recorder import FLUSH_INTERVAL_S, ReplyRecorder
from fireside.core.history.store import Store, StoredMessage, StoreError

log = logging.getLogger(__name__)

OPEN_KEY = "open_conversation"  # app_state: the chat that was open when the window last closed
MAX_TOOL_CALLS = 25

# What the model reads back when a call did not run (a result, so the loop never breaks).
DECLINED = "The user declined to run this tool call."
STOPPED = "The user stopped the reply before this tool call ran."
NO_TOOLS = "No tools can run in this conversation."
CUT_OFF = ("This tool call was cut off before it was complete (the reply reached its length "
           "limit), so it was not run.")


def too_many_calls(limit: int) -> str:
    return (f"The model made {limit} tool calls in this turn without answering, so Fireside "
            "stopped it there. Ask it to go on, or rephrase the question.")


def new_call_id() -> str:
    """An id in OpenAI's shape, so API clients and the history can tie a result to its call."""
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class TurnOptions:
    """How to produce the next reply: what the front end chose for this turn."""

    effort: Effort = Effort.MEDIUM
    max_tokens: int | None = None
    sampling: Sampling | None = None  # None: the loaded model's recommended settings
    model_name: str = ""  # recorded with the reply ("which model wrote this")
    system_prompt: str = ""  # for a new conversation; a saved one keeps its own
    tools: tuple[FunctionTool, ...] = ()  # client-defined functions and any the front end adds
    mcp_tools: bool = False  # also offer the MCP servers' tools the registry allows
    python_tool: bool = False  # offer the python tool (when the registry can run it)
    json_schema: Mapping[str, Any] | None = None
    adapters: tuple[AdapterUse, ...] = ()  # LoRA adapters and scales for this reply
    # The person already agreed, for this chat, to leave older messages out when it overflows.
    leave_out_older: bool = False
    # Functions the caller runs itself (`--tools FILE`, an API client's tools): a call to one ends
    # the turn with stop reason "tool_call" and is returned, not run.
    client_functions: frozenset[str] = frozenset()
    max_tool_calls: int = MAX_TOOL_CALLS  # per turn; then the turn stops with a message


@dataclass(frozen=True)
class Saved:
    """A message of this turn reached the history (the window maps its rows to ids with it)."""

    conversation_id: int
    message_id: int
    role: str
    position: int = 1  # among the versions at its place in the tree, 1-based ("‹ 2/3 ›")
    count: int = 1
    new_conversation: bool = False


@dataclass(frozen=True)
class LeftOut:
    """The oldest `dropped` messages were left out of this reply's prompt to fit `n_ctx`."""

    dropped: int
    n_ctx: int


@dataclass(frozen=True)
class Failed:
    """The reply failed; `message` is for the person. Always the last event of its turn."""

    message: str


@dataclass(frozen=True)
class SaveFailed:
    """Writing the history failed; the reply goes on, unsaved. `message` is for the person."""

    message: str


TurnEvent = Event | Saved | LeftOut | Failed | SaveFailed


class TurnHost(Protocol):
    """What the service asks the front end during a turn. Called on the service's thread; it may
    block (the window waits for a dialog's answer there, never on the GUI thread)."""

    def leave_out_older(self, overflow: Overflow) -> bool:
        """May the oldest messages be left out of this reply so it fits? (`overflow.fit` is set.)"""
        ...

    def approve(self, call: ToolCall) -> bool:
        """May Fireside run this tool call the model made? (Asked for every call that the tool
        registry does not already allow; False sends the model a refusal as the result.)"""
        ...


class Refusing:
    """A host that says no to everything: for scripts and one-shot CLI replies."""

    def leave_out_older(self, overflow: Overflow) -> bool:
        return False

    def approve(self, call: ToolCall) -> bool:
        return False


class ToolRunner(Protocol):
    """Runs the tools Fireside offers (core/tools/registry.py's ToolRegistry). Never raises for a
    call's own problems (bad arguments, unknown tool, timeout): those are error results."""

    def function_tools(self) -> tuple[FunctionTool, ...]: ...

    def python_refusal(self) -> str: ...

    def always_allowed(self, name: str) -> bool: ...

    def call(self, name: str, arguments: str, timeout: float | None = None, *, call_id: str = "",
             conversation: str = "") -> ToolResult: ...


@dataclass
class _Thread:
    """Where a turn's messages go: the saved conversation and the message the next one follows
    (None when unsaved), and what the model sees so far."""

    conversation_id: int | None
    reply_id: int | None
    messages: tuple[Message, ...]
    system_prompt: str
    parent_id: int | None = None
    key: str = ""  # the python tool's state is kept per conversation under this key

    def __post_init__(self) -> None:
        self.parent_id = self.reply_id
        self.key = str(self.conversation_id) if self.conversation_id else "unsaved-" + uuid.uuid4().hex


@dataclass
class _Step:
    """One model step of a reply: its text, the calls it made and how it ended."""

    reasoning_parts: list[str] = field(default_factory=list)
    answer_parts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    stats: ReplyStats = field(default_factory=ReplyStats)
    saving: bool = False

    def add(self, event: ReasoningDelta | AnswerDelta) -> None:
        (self.reasoning_parts if isinstance(event, ReasoningDelta) else self.answer_parts).append(event.text)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def answer(self) -> str:
        return "".join(self.answer_parts)


@dataclass(frozen=True)
class Turn:
    """One turn as a front end asks for it, to hand across a thread: `kind` is "send" (a new
    question in `conversation_id`, 0 for a new chat), "edit" (`text` instead of user message
    `message_id`), "regenerate" (answer again the question reply `message_id` answered) or
    "complete" (reply to `messages` with nothing saved, e.g. when the history is unavailable)."""

    kind: str
    options: TurnOptions
    text: str = ""
    conversation_id: int = 0
    message_id: int = 0
    messages: tuple[Message, ...] = ()

    def run(self, session: ChatSession, host: TurnHost | None = None,
            cancel: threading.Event | None = None) -> Iterator[TurnEvent]:
        if self.kind == "send":
            return session.send(self.conversation_id, self.text, self.options, host, cancel)
        if self.kind == "edit":
            return session.edit(self.message_id, self.text, self.options, host, cancel)
        if self.kind == "regenerate":
            return session.regenerate(self.message_id, self.options, host, cancel)
        if self.kind == "complete":
            return session.complete(self.messages, self.options, host, cancel)
        raise ValueError(f"Unknown kind of turn: {self.kind!r}")


def select_branch(store: Store, message_id: int, step: int) -> int:
    """Show the previous (-1) or next (+1) version of a message; returns the version now shown
    (the same id when there is none that way). Not synced to disk: it is a choice of view, and
    the window makes it on the GUI thread, which must never wait for the disk."""
    siblings = store.siblings(message_id)
    target = siblings.index(message_id) + step
    if not 0 <= target < len(siblings):
        return message_id
    store.select(siblings[target], durable=False)
    return siblings[target]


def build_request(messages: tuple[Message, ...], system_prompt: str,
                  options: TurnOptions) -> ChatRequest:
    """The engine's request for `messages` under `options` (also what --print-prompt renders)."""
    return ChatRequest(messages=messages, system_prompt=system_prompt, effort=options.effort,
                       max_tokens=options.max_tokens, sampling=options.sampling,
                       tools=options.tools, python_tool=options.python_tool,
                       json_schema=options.json_schema, adapters=options.adapters)


def crash_message(exc: BaseException) -> str:
    return f"Something went wrong while generating: {exc}"


def messages_for(path: list[StoredMessage]) -> tuple[Message, ...]:
    """The history for the engine from a stored branch: user turns, completed or stopped replies,
    tool calls and their results. A reply that failed or never got a word is left out; a stopped
    one keeps its partial text, since the person saw it and may refer to it."""
    out: list[Message] = []
    for m in path:
        if m.role == "user":
            out.append(Message("user", m.text))
        elif m.role == "tool":
            out.append(Message("tool", m.text, tool_name=m.tool_name, call_id=m.call_id))
        elif m.role == "assistant" and m.status != "error" and (m.text or m.reasoning or m.tool_calls):
            out.append(Message("assistant", m.text, m.reasoning, tool_calls=m.tool_calls))
    return tuple(out)


def status_for(stop_reason: str) -> str:
    """The saved status of a reply that ended with `stop_reason`."""
    return {"cancelled": "cancelled", "error": "error"}.get(stop_reason, "done")


class ChatSession:
    """Runs turns of saved conversations (or unsaved ones when `store` is None) on one engine."""

    flush_interval_s = FLUSH_INTERVAL_S  # how often a streaming reply reaches the disk

    def __init__(self, engine: Engine, store: Store | None = None,
                 tools: ToolRunner | None = None) -> None:
        self.engine = engine
        self.store = store
        self.tools = tools

    # Turns of saved conversations

    def send(self, conversation_id: int | None, text: str, options: TurnOptions,
             host: TurnHost | None = None, cancel: threading.Event | None = None,
             ) -> Iterator[TurnEvent]:
        """Ask `text` in a conversation (None or 0: a new one) after the message on screen."""
        store = self.store
        if store is None:
            yield from self.complete((Message("user", text),), options, host, cancel)
            return
        new = not conversation_id
        path: list[StoredMessage] = []
        try:
            with store.batch():  # a new chat, the open marker, the question and the reply: one fsync
                if not conversation_id:
                    conversation_id = store.create_conversation(
                        system_prompt=options.system_prompt, model=options.model_name,
                        effort=options.effort.value)
                    store.set_state(OPEN_KEY, str(conversation_id))
                path = store.active_path(conversation_id)
                parent = path[-1].id if path else None
                question = store.add_message(conversation_id, parent, "user", text)
                reply = store.start_reply(conversation_id, question, options.model_name,
                                          options.effort.value)
        except (StoreError, sqlite3.Error) as exc:
            yield SaveFailed(self._save_failed(exc))
            yield from self.complete((*messages_for(path), Message("user", text)), options, host,
                                     cancel)
            return
        yield self._saved(conversation_id, question, "user", new)
        yield self._saved(conversation_id, reply, "assistant")
        yield from self._reply(conversation_id, reply, options, host, cancel)

    def edit(self, message_id: int, text: str, options: TurnOptions, host: TurnHost | None = None,
             cancel: threading.Event | None = None) -> Iterator[TurnEvent]:
        """Ask `text` instead of user message `message_id`: a new version beside it, answered."""
        store = self.store
        try:
            if store is None:
                raise StoreError("The conversation history is not available.")
            old = store.message(message_id)
            with store.batch():
                question = store.add_message(old.conversation_id, old.parent_id, "user", text)
                reply = store.start_reply(old.conversation_id, question, options.model_name,
                                          options.effort.value)
        except (StoreError, sqlite3.Error) as exc:
            yield Failed(self._save_failed(exc))
            return
        yield self._saved(old.conversation_id, question, "user")
        yield self._saved(old.conversation_id, reply, "assistant")
        yield from self._reply(old.conversation_id, reply, options, host, cancel)

    def regenerate(self, reply_id: int, options: TurnOptions, host: TurnHost | None = None,
                   cancel: threading.Event | None = None) -> Iterator[TurnEvent]:
        """Answer again the question reply `reply_id` answered; the old reply stays a version."""
        store = self.store
        try:
            if store is None:
                raise StoreError("The conversation history is not available.")
            old = store.message(reply_id)
            if old.role != "assistant" or old.parent_id is None:
                yield Failed("Only a reply to a question can be regenerated.")
                return
            reply = store.start_reply(old.conversation_id, old.parent_id, options.model_name,
                                      options.effort.value)
        except (StoreError, sqlite3.Error) as exc:
            yield Failed(self._save_failed(exc))
            return
        yield self._saved(old.conversation_id, reply, "assistant")
        yield from self._reply(old.conversation_id, reply, options, host, cancel)

    # Operations that are not turns

    def select_branch(self, message_id: int, step: int) -> int:
        return select_branch(self._require_store(), message_id, step)

    # Unsaved turns (API requests, `fireside chat --no-save`)

    def complete(self, messages: tuple[Message, ...], options: TurnOptions,
                 host: TurnHost | None = None, cancel: threading.Event | None = None,
                 ) -> Iterator[TurnEvent]:
        """A reply to `messages` with nothing recorded (tool calls included)."""
        yield from self._turn(_Thread(None, None, messages, options.system_prompt), options,
                              host or Refusing(), cancel or threading.Event())

    # The reply: model, then tool calls and their results, then the model again, until an answer

    def _reply(self, conversation_id: int, reply_id: int, options: TurnOptions,
               host: TurnHost | None, cancel: threading.Event | None) -> Iterator[TurnEvent]:
        store = self._require_store()
        try:
            conversation = store.conversation(conversation_id)
            path = store.active_path(conversation_id)
        except (StoreError, sqlite3.Error) as exc:
            yield Failed(self._save_failed(exc))
            return
        history = messages_for([m for m in path if m.id != reply_id])
        thread = _Thread(conversation_id, reply_id, history, conversation.system_prompt)
        yield from self._turn(thread, options, host or Refusing(), cancel or threading.Event())

    def _turn(self, thread: _Thread, options: TurnOptions, host: TurnHost,
              cancel: threading.Event) -> Iterator[TurnEvent]:
        options = self._offered(options)
        calls_made = 0
        while True:
            recorder = self._recorder(thread.reply_id)
            request = build_request(thread.messages, thread.system_prompt, options)
            step = yield from self._step(request, options, host, cancel, recorder)
            if step is None:  # failed; the step said why
                return
            if not step.calls or step.stats.stop_reason not in ("tool_call", "length"):
                yield from self._finish_step(recorder, step, ())
                yield Done(step.stats)
                return
            calls = tuple(replace(c, call_id=c.call_id or new_call_id()) for c in step.calls)
            yield from self._finish_step(recorder, step, calls)
            yield from calls
            thread.messages += (Message("assistant", step.answer, step.reasoning, tool_calls=calls),)
            if step.stats.stop_reason == "length":  # cut off mid-call: nothing to run, no room left
                yield ToolResult(calls[-1].recipient, CUT_OFF, calls[-1].call_id, error=True)
                yield Done(step.stats)
                return
            if any(c.function_name in options.client_functions for c in calls):
                yield Done(step.stats)  # the caller runs its own functions and sends the results
                return
            for call in calls:
                calls_made += 1
                if calls_made > options.max_tool_calls:
                    yield Failed(too_many_calls(options.max_tool_calls))
                    return
                result = self._run_tool(call, host, cancel, thread)
                yield result
                if saved := self._save_result(thread, call, result):
                    yield saved
                thread.messages += (Message("tool", result.output, tool_name=call.recipient,
                                            call_id=call.call_id),)
            if cancel.is_set():
                yield Done(replace(step.stats, stop_reason="cancelled"))
                return
            if thread.conversation_id is not None and (next_reply := self._start_step(thread, options)):
                yield next_reply

    def _offered(self, options: TurnOptions) -> TurnOptions:
        """The tools this turn offers: the caller's, plus the registry's MCP tools and python when
        asked for and allowed (listing may start MCP servers: this runs on the engine's thread)."""
        if self.tools is None:
            return replace(options, python_tool=False) if options.python_tool else options
        tools = options.tools
        if options.mcp_tools:
            tools = (*tools, *self.tools.function_tools())
        python = options.python_tool and not self.tools.python_refusal()
        return replace(options, tools=tools, python_tool=python)

    def _step(self, request: ChatRequest, options: TurnOptions, host: TurnHost,
              cancel: threading.Event, recorder: ReplyRecorder | None,
              ) -> Generator[TurnEvent, None, _Step | None]:
        """Stream one step of the reply (shortened if the person agrees), recording its text; the
        calls and stats come back to the caller. Never raises: a failure is a `Failed` event."""
        saving = recorder is not None
        step = _Step()
        if cancel.is_set():  # stopped while still queued: the engine never starts
            step.stats = ReplyStats(stop_reason="cancelled")
            step.saving = saving
            return step
        try:
            try:
                events = self.engine.stream(request, cancel)
                first = next(events, None)
            except ContextOverflow as exc:
                overflow = self._overflow(request, exc)
                if (overflow.fit is None or cancel.is_set()
                        or not (options.leave_out_older or host.leave_out_older(overflow))):
                    yield from self._fail(recorder, str(exc))
                    return None
                yield LeftOut(overflow.fit.dropped, exc.n_ctx)
                events = self.engine.stream(overflow.fit.request, cancel)
                first = next(events, None)
            stats: ReplyStats | None = None
            for event in _chain([first] if first is not None else [], events):
                if isinstance(event, ReasoningDelta | AnswerDelta):
                    step.add(event)
                    if saving and recorder is not None and (problem := self._record(recorder, event)):
                        saving = False
                        yield SaveFailed(problem)
                    yield event
                elif isinstance(event, ToolCall):
                    step.calls.append(event)  # goes out once it has its id
                elif isinstance(event, Done):
                    stats = event.stats
            step.stats = stats or ReplyStats(stop_reason="cancelled" if cancel.is_set() else "end")
            step.saving = saving
            return step
        except EngineError as exc:
            yield from self._fail(recorder, str(exc))
        except Exception as exc:  # an engine bug must not take the front end down
            log.exception("Generating a reply failed")
            yield from self._fail(recorder, crash_message(exc))
        return None

    def _finish_step(self, recorder: ReplyRecorder | None, step: _Step,
                     calls: tuple[ToolCall, ...]) -> Iterator[TurnEvent]:
        if recorder is None or not step.saving:
            return
        stats = step.stats
        if problem := self._write(lambda: recorder.finish(stats.as_json(), status_for(stats.stop_reason),
                                                          tool_calls=calls)):
            yield SaveFailed(problem)

    def _run_tool(self, call: ToolCall, host: TurnHost, cancel: threading.Event,
                  thread: _Thread) -> ToolResult:
        """Run one call the model made, if the person allows it; every outcome is a result."""
        if cancel.is_set():
            return ToolResult(call.recipient, STOPPED, call.call_id, error=True)
        if self.tools is None:
            return ToolResult(call.recipient, NO_TOOLS, call.call_id, error=True)
        if not (self.tools.always_allowed(call.recipient) or host.approve(call)):
            return ToolResult(call.recipient, DECLINED, call.call_id, error=True)
        if cancel.is_set():
            return ToolResult(call.recipient, STOPPED, call.call_id, error=True)
        try:
            return self.tools.call(call.recipient, call.arguments, call_id=call.call_id,
                                   conversation=thread.key)
        except Exception as exc:  # a tool runner bug is a result for the model, not a crash
            log.exception("Running %s failed", call.recipient)
            return ToolResult(call.recipient, f"The tool could not run: {exc}", call.call_id, error=True)

    def _save_result(self, thread: _Thread, call: ToolCall, result: ToolResult) -> TurnEvent | None:
        store = self.store
        if store is None or thread.conversation_id is None or thread.parent_id is None:
            return None
        stats = {"duration_s": round(result.duration_s, 4), "error": result.error}
        try:
            tool_id = store.add_message(thread.conversation_id, thread.parent_id, "tool", result.output,
                                        stats=stats, tool_name=call.recipient, call_id=call.call_id)
        except (StoreError, sqlite3.Error) as exc:
            thread.conversation_id = None  # the rest of this turn is not saved
            return SaveFailed(self._save_failed(exc))
        thread.parent_id = tool_id
        return self._saved(thread.conversation_id, tool_id, "tool")

    def _start_step(self, thread: _Thread, options: TurnOptions) -> TurnEvent | None:
        """The next step of the reply gets its own saved message, after the last result."""
        if self.store is None or thread.conversation_id is None or thread.parent_id is None:
            return None
        try:
            reply = self.store.start_reply(thread.conversation_id, thread.parent_id, options.model_name,
                                           options.effort.value)
        except (StoreError, sqlite3.Error) as exc:
            thread.conversation_id = thread.reply_id = None
            return SaveFailed(self._save_failed(exc))
        thread.reply_id = thread.parent_id = reply
        return self._saved(thread.conversation_id, reply, "assistant")

    def _recorder(self, reply_id: int | None) -> ReplyRecorder | None:
        if self.store is None or reply_id is None:
            return None
        return ReplyRecorder(self.store, reply_id, self.flush_interval_s)

    def _fail(self, recorder: ReplyRecorder | None, message: str) -> Iterator[TurnEvent]:
        if recorder is not None:
            self._write(lambda: recorder.finish({"error": message}, "error"))
        yield Failed(message)

    def _record(self, recorder: ReplyRecorder, event: ReasoningDelta | AnswerDelta) -> str:
        reasoning = event.text if isinstance(event, ReasoningDelta) else ""
        answer = event.text if isinstance(event, AnswerDelta) else ""
        return self._write(lambda: recorder.add(reasoning, answer))

    def _write(self, fn: Callable[[], object]) -> str:
        """Run a history write; '' when it worked, else a sentence saying it failed."""
        try:
            fn()
        except (StoreError, sqlite3.Error) as exc:
            return self._save_failed(exc)
        return ""

    def _overflow(self, request: ChatRequest, exc: ContextOverflow) -> Overflow:
        try:
            fit = fit_to_context(request, self.engine.count_prompt_tokens, exc.n_ctx)
        except EngineError:
            fit = None
        return Overflow(str(exc), exc.prompt_tokens, exc.n_ctx, fit)

    # Helpers

    def _saved(self, conversation_id: int, message_id: int, role: str, new: bool = False) -> Saved:
        position, count = 1, 1
        if self.store is not None:
            try:
                siblings = self.store.siblings(message_id)
                position, count = siblings.index(message_id) + 1, len(siblings)
            except (StoreError, sqlite3.Error, ValueError):
                pass
        return Saved(conversation_id, message_id, role, position, count, new)

    def _require_store(self) -> Store:
        if self.store is None:
            raise StoreError("The conversation history is not available.")
        return self.store

    @staticmethod
    def _save_failed(exc: BaseException) -> str:
        log.warning("History write failed: %s", exc)
        return f"Fireside could not save this chat to your history: {exc}"


def _chain(first: list[Event], rest: Iterator[Event]) -> Iterator[Event]:
    yield from first
    yield from rest
