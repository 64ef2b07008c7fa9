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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fireside.core.chat.context_fit import Overflow, fit_to_context
from fireside.core.chat.conversation import AdapterUse, ChatRequest, Effort, FunctionTool, Message, Sampling
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.engine.protocol import ContextOverflow, Engine, EngineError
from fireside.core.history.recorder import FLUSH_INTERVAL_S, ReplyRecorder
from fireside.core.history.store import Store, StoredMessage, StoreError

log = logging.getLogger(__name__)

OPEN_KEY = "open_conversation"  # app_state: the chat that was open when the window last closed


@dataclass(frozen=True)
class TurnOptions:
    """How to produce the next reply: what the front end chose for this turn."""

    effort: Effort = Effort.MEDIUM
    max_tokens: int | None = None
    sampling: Sampling | None = None  # None: the loaded model's recommended settings
    model_name: str = ""  # recorded with the reply ("which model wrote this")
    system_prompt: str = ""  # for a new conversation; a saved one keeps its own
    tools: tuple[FunctionTool, ...] = ()
    python_tool: bool = False
    json_schema: Mapping[str, Any] | None = None
    adapters: tuple[AdapterUse, ...] = ()  # LoRA adapters and scales for this reply
    # The person already agreed, for this chat, to leave older messages out when it overflows.
    leave_out_older: bool = False


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


class Refusing:
    """A host that says no to everything: for scripts and one-shot CLI replies."""

    def leave_out_older(self, overflow: Overflow) -> bool:
        return False


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
    """The history for the engine from a stored branch: user turns and completed or stopped
    replies. A reply that failed or never got a word is left out; a stopped one keeps its
    partial text, since the person saw it and may refer to it."""
    out: list[Message] = []
    for m in path:
        if m.role == "user":
            out.append(Message("user", m.text))
        elif m.role == "assistant" and m.status != "error" and (m.text or m.reasoning):
            out.append(Message("assistant", m.text, m.reasoning))
    return tuple(out)


def status_for(stop_reason: str) -> str:
    """The saved status of a reply that ended with `stop_reason`."""
    return {"cancelled": "cancelled", "error": "error"}.get(stop_reason, "done")


class ChatSession:
    """Runs turns of saved conversations (or unsaved ones when `store` is None) on one engine."""

    flush_interval_s = FLUSH_INTERVAL_S  # how often a streaming reply reaches the disk

    def __init__(self, engine: Engine, store: Store | None = None) -> None:
        self.engine = engine
        self.store = store

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
        """A reply to `messages` with nothing recorded."""
        request = build_request(messages, options.system_prompt, options)
        yield from self._stream(request, options, host or Refusing(), cancel or threading.Event(),
                                None)

    # The reply

    def _reply(self, conversation_id: int, reply_id: int, options: TurnOptions,
               host: TurnHost | None, cancel: threading.Event | None) -> Iterator[TurnEvent]:
        store = self._require_store()
        try:
            conversation = store.conversation(conversation_id)
            path = store.active_path(conversation_id)
        except (StoreError, sqlite3.Error) as exc:
            message = self._save_failed(exc)
            yield Failed(message)
            return
        history = messages_for([m for m in path if m.id != reply_id])
        request = build_request(history, conversation.system_prompt, options)
        recorder = ReplyRecorder(store, reply_id, self.flush_interval_s)
        yield from self._stream(request, options, host or Refusing(), cancel or threading.Event(),
                                recorder)

    def _stream(self, request: ChatRequest, options: TurnOptions, host: TurnHost,
                cancel: threading.Event, recorder: ReplyRecorder | None) -> Iterator[TurnEvent]:
        """Stream one reply (shortened if the person agrees), recording it; never raises."""
        saving = recorder is not None
        if cancel.is_set():  # stopped while still queued: the engine never starts
            stats = ReplyStats(stop_reason="cancelled")
            if recorder is not None:
                self._write(lambda: recorder.finish(stats.as_json(), "cancelled"))
            yield Done(stats)
            return
        try:
            try:
                events = self.engine.stream(request, cancel)
                first = next(events, None)
            except ContextOverflow as exc:
                overflow = self._overflow(request, exc)
                if (overflow.fit is None or cancel.is_set()
                        or not (options.leave_out_older or host.leave_out_older(overflow))):
                    yield from self._fail(recorder, str(exc))
                    return
                yield LeftOut(overflow.fit.dropped, exc.n_ctx)
                events = self.engine.stream(overflow.fit.request, cancel)
                first = next(events, None)
            stats: ReplyStats | None = None
            pending = [first] if first is not None else []
            for event in _chain(pending, events):
                if isinstance(event, ReasoningDelta | AnswerDelta):
                    if saving and recorder is not None:
                        problem = self._record(recorder, event)
                        if problem:
                            saving = False
                            yield SaveFailed(problem)
                elif isinstance(event, Done):
                    stats = event.stats
                    continue  # after the reply is written, below
                elif isinstance(event, ToolCall):
                    log.info("The model asked for a tool call: %s", event.recipient)
                yield event
            if stats is None:  # an engine that forgot its Done: still end the reply cleanly
                stats = ReplyStats(stop_reason="cancelled" if cancel.is_set() else "end")
            if saving and recorder is not None:
                final = stats
                if problem := self._write(lambda: recorder.finish(final.as_json(),
                                                                  status_for(final.stop_reason))):
                    yield SaveFailed(problem)
            yield Done(stats)
        except EngineError as exc:
            yield from self._fail(recorder, str(exc))
        except Exception as exc:  # an engine bug must not take the front end down
            log.exception("Generating a reply failed")
            yield from self._fail(recorder, crash_message(exc))

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
