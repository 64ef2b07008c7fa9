"""Re-rendering a conversation's history as harmony messages, tool calls and results included."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fireside.core.chat.conversation import Message
from fireside.core.chat.events import ToolCall
from fireside.core.chat.harmony_tokens import (
    CALL,
    CHANNEL,
    CONSTRAIN,
    END,
    MESSAGE,
    START,
    neutralise,
)


@dataclass(frozen=True)
class _Rendered:
    text: str
    channel: str = ""  # the harmony channel, which decides what auto_drop_analysis drops
    stopped: bool = False  # an answerless, callless reply (stopped while thinking)
    user: bool = False


def _builtin(recipient: str) -> bool:
    """python (and browser.*) are called on analysis; functions.* on commentary."""
    return not recipient.startswith("functions.")


def _call(call: ToolCall) -> _Rendered:
    recipient, body = neutralise(call.recipient), neutralise(call.arguments)
    if not _builtin(call.recipient):
        header = f"assistant to={recipient}{CHANNEL}commentary {CONSTRAIN}json"
        return _Rendered(f"{START}{header}{MESSAGE}{body}{CALL}", "commentary")
    kind = call.content_type.strip()
    ctype = f" {CONSTRAIN}json" if kind == "json" else (f" {neutralise(kind)}" if kind else "")
    header = f"assistant to={recipient}{CHANNEL}analysis{ctype}"
    return _Rendered(f"{START}{header}{MESSAGE}{body}{CALL}", "analysis")


def _result(message: Message, calls: dict[str, ToolCall]) -> _Rendered:
    name = message.tool_name or (calls[message.call_id].recipient if message.call_id in calls else "")
    if not name:
        raise ValueError(
            "A tool message must name its tool or answer an earlier call: "
            f"no call has the id {message.call_id!r}."
        )
    channel = "analysis" if _builtin(name) else "commentary"
    header = f"{neutralise(name)} to=assistant{CHANNEL}{channel}"
    return _Rendered(f"{START}{header}{MESSAGE}{neutralise(message.text)}{END}", channel)


def _assistant(message: Message) -> list[_Rendered]:
    out = []
    if message.reasoning:
        body = neutralise(message.reasoning)
        stopped = not message.text and not message.tool_calls
        out.append(_Rendered(f"{START}assistant{CHANNEL}analysis{MESSAGE}{body}{END}", "analysis", stopped))
    if message.text:
        channel = "commentary" if message.tool_calls else "final"  # a preamble before calls
        body = neutralise(message.text)
        out.append(_Rendered(f"{START}assistant{CHANNEL}{channel}{MESSAGE}{body}{END}", channel))
    return out


def render_history(messages: tuple[Message, ...]) -> list[str]:
    """The conversation as harmony messages, with harmony's `auto_drop_analysis` applied.

    An assistant message's `reasoning` is an analysis message; its `text` a final message (or a
    commentary preamble when it has tool calls); each call `<|start|>assistant to=NAME…<|call|>`,
    followed by its result (results are matched to calls by `call_id`, else in order, so parallel
    calls render as call, result, call, result, as the model produces them).

    Dropping, as harmony's `auto_drop_analysis` filter does it: it removes messages on the
    analysis channel whatever their role, so python's calls and results (on analysis) go with the
    reasoning, while function calls and results (on commentary) and preambles stay. Here an
    analysis message is dropped once a final answer follows it anywhere later, and kept while its
    turn is still going. The library instead drops, only when the last assistant message is final,
    the analysis before the *first* final message: the same in a first turn, but in later turns
    it would keep every earlier turn's analysis (and all of it during a tool loop), which the
    format's own docs say to drop and which would change the prompt's prefix mid-conversation.
    A reply stopped while thinking (reasoning only, a Fireside case) is dropped once a user
    message follows it.
    """
    rendered: list[_Rendered] = []
    calls: dict[str, ToolCall] = {}
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if message.role in ("user", "developer"):
            body = neutralise(message.text)
            if message.role == "developer":
                body = "# Instructions\n\n" + body
            text = f"{START}{message.role}{MESSAGE}{body}{END}"
            rendered.append(_Rendered(text, user=message.role == "user"))
        elif message.role == "tool":
            rendered.append(_result(message, calls))
        elif message.role == "assistant":
            rendered += _assistant(message)
            results: list[Message] = []
            while message.tool_calls and i < len(messages) and messages[i].role == "tool":
                results.append(messages[i])
                i += 1
            ids = {c.call_id for c in message.tool_calls if c.call_id}
            for call in message.tool_calls:
                calls[call.call_id or f"#{len(calls)}"] = call
                rendered.append(_call(call))
                match = next((r for r in results if call.call_id and r.call_id == call.call_id), None)
                if match is None:  # in order, among results that answer no other call by id
                    match = next((r for r in results if r.call_id not in ids), None)
                if match is not None:
                    results.remove(match)
                    named = replace(match, tool_name=match.tool_name or call.recipient)
                    rendered.append(_result(named, calls))
            rendered += [_result(r, calls) for r in results]
        else:
            raise ValueError(
                f"Unknown message role {message.role!r}: expected user, assistant, tool or developer."
            )
    last_final = max((k for k, r in enumerate(rendered) if r.channel == "final"), default=-1)
    last_user = max((k for k, r in enumerate(rendered) if r.user), default=-1)
    return [
        r.text
        for k, r in enumerate(rendered)
        if not (r.channel == "analysis" and (k < last_final or (r.stopped and k < last_user)))
    ]
