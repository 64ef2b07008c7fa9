"""`fireside chat`: one reply in the terminal, through the same conversation service the window uses.

This module parses arguments and prints events; finding and checking the model, loading it,
running the turn and saving it are the core's (admin.model_access, engine.loading, chat.session).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import IO, Any

from fireside.cli.errors import BadInput


def add_parser(sub: Any) -> None:
    chat = sub.add_parser("chat", help="one reply in the terminal")
    chat.add_argument("--model", default="", help="a GGUF file: a path, or the name of an installed "
                      "model (default: your organisation's default model, if it sets one)")
    chat.add_argument("--effort", default=None, help="reasoning effort: low, medium or high")
    chat.add_argument("--system", default="", help="system prompt (instructions for the model)")
    chat.add_argument("--max-tokens", type=int, default=None, help="stop after N new tokens")
    chat.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    chat.add_argument("--threads", type=int, default=None, help="CPU threads (default: cores)")
    chat.add_argument("--gpu-layers", type=int, default=None, help="layers to offload to GPU")
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument("--lora", action="append", default=[], metavar="FILE_OR_NAME[:SCALE]",
                      help="apply a LoRA adapter, a file or an installed one's name, at SCALE "
                      "(default 1); repeat for several")
    chat.add_argument("--speculative", action=argparse.BooleanOptionalAction, default=None,
                      help="draft tokens from the conversation and verify them in batches")
    chat.add_argument("--json", action="store_true", help="one JSON object per line")
    chat.add_argument("--print-prompt", action="store_true", help="print the prompt and exit")
    chat.add_argument("--no-save", action="store_true", help="do not keep this chat in your history")
    chat.add_argument("--messages", metavar="FILE", help="the conversation so far, as an OpenAI "
                      "Chat Completions messages array (PROMPT, if given, is added as the last user "
                      "message; such a chat is not saved)")
    chat.add_argument("--tools", metavar="FILE", help="functions the model may call, as an OpenAI "
                      "tools array; a call to one ends the reply (stop reason tool_call) for you to run")
    chat.add_argument("--python", action="store_true", help="offer the built-in python tool (runs "
                      "in a sandbox with no network and no writes outside its folder)")
    chat.add_argument("--json-schema", metavar="FILE", help="a JSON Schema the answer must follow "
                      "(the reasoning stays free)")
    chat.add_argument("--allow-tools", action="store_true", help="run the tool calls the model makes "
                      "without asking (python and MCP tools)")
    chat.add_argument("--remote", metavar="URL_OR_NAME", help="reply from an OpenAI-compatible "
                      "endpoint (a URL or a connection from `fireside remotes`) instead of this "
                      "computer; --model is then the endpoint's model id")
    chat.add_argument("prompt", nargs="?", help="your message (read from stdin if omitted)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except RuntimeFailure as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from fireside.core.admin.policy import load_policy
    from fireside.core.chat.conversation import Effort
    from fireside.core.config.paths import app_paths
    from fireside.core.config.settings import effective_settings, load_settings

    policy = load_policy()
    paths = app_paths(policy=policy)
    settings = effective_settings(load_settings(paths.settings_file), policy)
    try:
        effort = Effort.parse(args.effort) if args.effort is not None else settings.effort_enum
    except ValueError as e:
        raise BadInput(str(e)) from None
    if refusal := policy.effort_refusal(effort.value):
        raise BadInput(refusal)
    ceiling = policy.get("max_context")
    if args.ctx is not None and ceiling is not None and args.ctx > ceiling:
        raise BadInput(f"--ctx {args.ctx} is above the largest context your organisation's policy "
                       f"allows ({ceiling:,} tokens; max_context).")
    if args.max_tokens is not None and args.max_tokens <= 0:
        raise BadInput("--max-tokens must be a positive number.")
    if args.ctx is not None and args.ctx < 64:
        raise BadInput("--ctx must be at least 64 tokens.")
    conversation = _conversation(args)
    tools = _read_tools(args)
    schema = _read_schema(args)
    registry = _registry(args, paths, policy)
    engine, gguf, model_name, adapters = _engine(args, paths, policy, settings)
    sampling = _sampling(args, gguf.is_harmony if gguf is not None else True)
    from fireside.core.chat.session import TurnOptions

    options = TurnOptions(effort=effort, max_tokens=args.max_tokens, sampling=sampling,
                          model_name=model_name, system_prompt=conversation.system_prompt,
                          tools=tools, client_functions=frozenset(t.name for t in tools),
                          mcp_tools=registry is not None, python_tool=args.python, json_schema=schema,
                          adapters=adapters)
    if args.print_prompt:
        return _print_prompt(gguf, engine, conversation.messages, options, registry)
    assert engine is not None
    host = CliHost(allow=args.allow_tools, ask=sys.stdin.isatty() and conversation.from_argument)
    save = not args.no_save and conversation.saved
    return _reply(engine, conversation, options, host, registry, save=save, as_json=args.json)


class _Conversation:
    """What the command line asks: one prompt (saved), or a whole conversation (not saved)."""

    def __init__(self, system_prompt: str, messages: tuple[Any, ...], saved: bool,
                 from_argument: bool) -> None:
        self.system_prompt, self.messages = system_prompt, messages
        self.saved, self.from_argument = saved, from_argument


def _conversation(args: argparse.Namespace) -> _Conversation:
    from fireside.core.chat.conversation import Message
    from fireside.core.chat.openai_format import load_json_file, messages_from_openai

    messages: tuple[Message, ...] = ()
    system = args.system
    if args.messages:
        try:
            system_from_file, messages = messages_from_openai(
                load_json_file(_read(args.messages, "--messages"), f"--messages {args.messages}"))
        except ValueError as e:
            raise BadInput(f"--messages {args.messages}: {e}") from None
        system = system or system_from_file
    prompt = args.prompt
    if prompt is None and not args.messages:
        prompt = sys.stdin.read()
    if prompt is not None:
        if not prompt.strip():
            raise BadInput("Nothing to send: give a prompt or pipe one in.")
        messages = (*messages, Message("user", prompt))
    if not messages or messages[-1].role not in ("user", "tool"):
        raise BadInput("Nothing to answer: the conversation must end with a user or tool message.")
    return _Conversation(system, messages, saved=not args.messages, from_argument=args.prompt is not None)


def _read(path: str, flag: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(8 << 20)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{flag}: could not read {path}: {e}") from None


def _read_tools(args: argparse.Namespace) -> tuple[Any, ...]:
    if not args.tools:
        return ()
    from fireside.core.chat.openai_format import load_json_file, tools_from_openai

    try:
        return tools_from_openai(load_json_file(_read(args.tools, "--tools"), f"--tools {args.tools}"))
    except ValueError as e:
        raise BadInput(f"--tools {args.tools}: {e}") from None


def _read_schema(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.json_schema:
        return None
    from fireside.core.chat.openai_format import load_json_file

    try:
        schema = load_json_file(_read(args.json_schema, "--json-schema"), "the schema")
    except ValueError as e:
        raise BadInput(f"--json-schema {args.json_schema}: {e}") from None
    if isinstance(schema, dict) and isinstance(schema.get("schema"), dict):
        schema = schema["schema"]  # OpenAI's response_format.json_schema wrapper
    if not isinstance(schema, dict):
        raise BadInput(f"--json-schema {args.json_schema}: a JSON Schema is a JSON object.")
    from fireside.core.engine.structured import SchemaError, schema_to_gbnf

    try:
        schema_to_gbnf(schema)  # one that cannot constrain an answer is bad input, before loading
    except SchemaError as e:
        raise BadInput(f"--json-schema {args.json_schema}: {e}") from None
    return schema


def _registry(args: argparse.Namespace, paths: Any, policy: Any) -> Any:
    """The tool registry when tools may be offered: --python, or MCP servers in mcp.json."""
    if args.python and (refusal := policy.python_tool_refusal()):
        raise BadInput(refusal)
    if not args.python and (policy.tools_refusal() or not (paths.config / "mcp.json").is_file()):
        return None
    from fireside.core.tools.defaults import build_registry

    registry = build_registry(paths, policy)
    if args.python and (refusal := registry.python_refusal()):
        registry.close()
        raise BadInput(refusal)
    return registry


def _engine(args: argparse.Namespace, paths: Any, policy: Any,
            settings: Any) -> tuple[Any, Any, str, tuple[Any, ...]]:
    """(engine ready to stream, or None for --print-prompt of a local model; its GGUF; its name;
    the --lora adapters, checked against it)."""
    if args.remote:
        from fireside.core.engine.protocol import EngineError
        from fireside.core.engine.remotes import RemoteInputError, RemoteRefused, open_remote

        try:
            remote = open_remote(args.remote, args.model, paths, policy)
        except (RemoteInputError, RemoteRefused) as e:
            raise BadInput(str(e)) from None
        except EngineError as e:
            raise RuntimeFailure(str(e)) from None
        if args.lora:
            raise BadInput("--lora applies to models on this computer, not to a remote engine.")
        return remote, None, remote.info.name if remote.info else args.model, ()
    from fireside.core.admin.model_access import LoadRefused, prepare_load
    from fireside.core.models.folders import model_dirs
    from fireside.core.models.gguf_info import GGUFError, read_gguf

    name = args.model  # empty: the organisation's default model, if its policy names one
    try:
        path = prepare_load(name, policy, model_dirs(paths, policy), paths.cache)
        gguf = read_gguf(path)  # a file that is not a usable GGUF is bad input, before loading
    except LoadRefused as e:
        raise BadInput(str(e)) from None
    except GGUFError as e:
        found = "" if os.path.abspath(name) == path else f" (found at {path})"
        raise BadInput(f"{e}{found}") from None
    model_name = os.path.splitext(os.path.basename(path))[0]
    adapters = _adapters(args.lora, gguf, policy, paths) if args.lora else ()  # checked before loading
    if args.print_prompt:
        return None, gguf, model_name, adapters
    from fireside.core.engine.llama_engine import LlamaEngine
    from fireside.core.engine.loading import load_config
    from fireside.core.engine.prefix_state import PrefixStore
    from fireside.core.engine.protocol import BadModelFile, EngineError

    engine = LlamaEngine(prefix_store=PrefixStore.default())
    try:
        engine.load(path, load_config(settings, n_ctx=args.ctx, n_threads=args.threads,
                                      n_gpu_layers=args.gpu_layers, speculative=args.speculative))
    except BadModelFile as e:  # llama.cpp refuses the file: bad input, one line
        raise BadInput(str(e)) from None
    except EngineError as e:
        raise RuntimeFailure(str(e)) from None
    return engine, gguf, model_name, adapters


def _adapters(specs: list[str], gguf: Any, policy: Any, paths: Any) -> tuple[Any, ...]:
    """The --lora adapters, found, allowed and checked against the model before it loads."""
    from fireside.core.admin.model_access import LoadRefused, prepare_adapters
    from fireside.core.models.adapters import AdapterError, check_adapter

    try:
        uses = prepare_adapters(specs, policy, paths.adapters, paths.cache)
        for use in uses:
            check_adapter(use.path, gguf)
    except (LoadRefused, AdapterError) as e:
        raise BadInput(str(e)) from None
    return uses


def _sampling(args: argparse.Namespace, harmony: bool) -> Any:
    from fireside.core.chat.conversation import Sampling

    if args.temperature is None and args.seed is None:
        return None  # the right defaults for the model
    base = Sampling.for_model(harmony, seed=args.seed)
    return base if args.temperature is None else replace(base, temperature=args.temperature)


def _print_prompt(gguf: Any, engine: Any, messages: tuple[Any, ...], options: Any, registry: Any) -> int:
    from fireside.core.chat.session import build_request

    if registry is not None:
        tools = (*options.tools, *registry.function_tools())
        options = replace(options, tools=tools, python_tool=options.python_tool
                          and not registry.python_refusal())
        registry.close()
    request = build_request(messages, options.system_prompt, options)
    if gguf is not None:
        from fireside.core.chat.prompting import render

        text = render(gguf, request)
    else:
        text = engine.render_prompt(request)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


class RuntimeFailure(Exception):
    """The model could not be loaded or reached: exit 1 with this message."""


def _reply(engine: Any, conversation: _Conversation, options: Any, host: CliHost, registry: Any, *,
           save: bool, as_json: bool) -> int:
    from fireside.core.chat.session import ChatSession
    from fireside.core.history.store import SchemaTooNew, Store, StoreError

    store = None
    if save:
        try:
            store = Store()
        except (StoreError, SchemaTooNew, OSError) as e:
            print(f"fireside: this chat will not be saved: {e}", file=sys.stderr)
    printer = JsonPrinter(sys.stdout) if as_json else TextPrinter(sys.stdout, sys.stderr)
    session = ChatSession(engine, store, registry)
    try:
        if store is not None:
            events = session.send(None, conversation.messages[-1].text, options, host)
        else:
            events = session.complete(conversation.messages, options, host)
        for event in events:
            printer.show(event)
    finally:
        if store is not None:
            store.close()
        if registry is not None:
            registry.close()
        engine.unload()
    return 1 if printer.failed else 0


class CliHost:
    """The terminal's answers during a turn: tool calls run with --allow-tools, or after a yes at
    an interactive prompt; otherwise they are refused with a line saying how to allow them.

    `answers` is where a yes or no is read from; None (the command line) opens the terminal,
    /dev/tty, for each question, so a reply piped elsewhere still asks the person at the keyboard.
    The question and the refusals go to `err` (None: sys.stderr at the time)."""

    def __init__(self, allow: bool, ask: bool, answers: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.allow, self.ask = allow, ask
        self.answers, self._err = answers, err

    def leave_out_older(self, overflow: Any) -> bool:
        return False

    def approve(self, call: Any) -> bool:
        if self.allow:
            return True
        err = self._err or sys.stderr
        name = call.recipient.removeprefix("functions.")
        if self.ask:
            err.write(f"\nThe model wants to run {name}:\n{call.arguments}\nRun it? [y/N] ")
            err.flush()
            try:
                line = self._read_answer()
            except OSError:
                line = ""
            if line.strip().lower() in ("y", "yes"):
                return True
            if not line.endswith("\n"):  # end of input: finish the question's line
                err.write("\n")
        print(f"fireside: not running {name}: give --allow-tools to let the model run tools.",
              file=err)
        return False

    def _read_answer(self) -> str:
        if self.answers is not None:
            return self.answers.readline()
        with open("/dev/tty", encoding="utf-8") as tty:
            return tty.readline()


class TextPrinter:
    """The answer on stdout, the reasoning and the figures on stderr, as a person reads them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err
        self.in_reasoning = False
        self.failed = False

    def show(self, event: object) -> None:
        from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ToolCall, ToolResult
        from fireside.core.chat.session import Failed, SaveFailed

        out, err = self.out, self.err
        if isinstance(event, ReasoningDelta):
            if not self.in_reasoning:
                err.write("Thinking: ")
                self.in_reasoning = True
            err.write(event.text)
            err.flush()
        elif isinstance(event, AnswerDelta):
            if self.in_reasoning:
                err.write("\n\n")
                self.in_reasoning = False
            out.write(event.text)
            out.flush()
        elif isinstance(event, ToolCall):
            err.write(f"\n[calls {event.function_name}: {event.arguments}]\n")
        elif isinstance(event, ToolResult):
            state = {"ok": f"{event.duration_s:.2f} s", "error": "failed"}.get(
                event.outcome.value, event.outcome.value.replace("_", " "))
            first = event.output.strip().splitlines()[0][:200] if event.output.strip() else ""
            err.write(f"[{event.recipient.removeprefix('functions.')} ({state}): {first}]\n")
        elif isinstance(event, Done):
            s = event.stats
            out.write("\n")
            err.write(
                f"[{s.ttft_s:.2f} s to first token, {s.tokens_per_s:.1f} tok/s, "
                f"{s.reasoning_tokens} reasoning + {s.answer_tokens} answer tokens"
                f"{', stopped: ' + s.stop_reason if s.stop_reason != 'end' else ''}"
                f"{', adapters: ' + ' '.join(s.adapters) if s.adapters else ''}]\n")
        elif isinstance(event, SaveFailed):
            err.write(f"fireside: {event.message}\n")
        elif isinstance(event, Failed):
            err.write(f"fireside: {event.message}\n")
            self.failed = True


class JsonPrinter:
    """One JSON object a line: the contract scripts and tests rely on (see ARCHITECTURE.md)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.failed = False

    def show(self, event: object) -> None:
        from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ToolCall, ToolResult
        from fireside.core.chat.session import Failed, SaveFailed

        record: dict[str, Any]
        if isinstance(event, ReasoningDelta):
            record = {"type": "reasoning", "text": event.text}
        elif isinstance(event, AnswerDelta):
            record = {"type": "answer", "text": event.text}
        elif isinstance(event, ToolCall):
            record = {"type": "tool_call", "name": event.function_name, "arguments": event.arguments,
                      "call_id": event.call_id}
        elif isinstance(event, ToolResult):
            record = {"type": "tool_result", "name": event.recipient.removeprefix("functions."),
                      "output": event.output, "error": event.error, "outcome": event.outcome.value,
                      "call_id": event.call_id}
        elif isinstance(event, Done):
            record = {"type": "done", "stats": event.stats.as_json()}
        elif isinstance(event, Failed):
            print(f"fireside: {event.message}", file=sys.stderr)
            self.failed = True
            return
        elif isinstance(event, SaveFailed):
            print(f"fireside: {event.message}", file=sys.stderr)
            return
        else:
            return
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()
