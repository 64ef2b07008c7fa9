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
    chat.add_argument("--json", action="store_true", help="one JSON object per line")
    chat.add_argument("--print-prompt", action="store_true", help="print the prompt and exit")
    chat.add_argument("--no-save", action="store_true", help="do not keep this chat in your history")
    chat.add_argument("prompt", nargs="?", help="your message (read from stdin if omitted)")


def run(args: argparse.Namespace) -> int:
    from fireside.core.admin.model_access import LoadRefused, prepare_load
    from fireside.core.admin.policy import load_policy
    from fireside.core.chat.conversation import Effort, Message, Sampling
    from fireside.core.chat.session import TurnOptions
    from fireside.core.config.paths import app_paths
    from fireside.core.config.settings import effective_settings, load_settings
    from fireside.core.models.folders import model_dirs
    from fireside.core.models.gguf_info import GGUFError, read_gguf

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
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    if not prompt.strip():
        raise BadInput("Nothing to send: give a prompt or pipe one in.")

    name = args.model  # empty: the organisation's default model, if its policy names one
    try:
        path = prepare_load(name, policy, model_dirs(paths, policy), paths.cache)
        gguf = read_gguf(path)  # a file that is not a usable GGUF is bad input, before loading
    except LoadRefused as e:
        raise BadInput(str(e)) from None
    except GGUFError as e:
        found = "" if os.path.abspath(name) == path else f" (found at {path})"
        raise BadInput(f"{e}{found}") from None

    adapters = _adapters(args.lora, gguf, policy, paths) if args.lora else ()
    sampling = None  # the right defaults for the model
    if args.temperature is not None or args.seed is not None:
        base = Sampling.for_model(gguf.is_harmony, seed=args.seed)
        sampling = base if args.temperature is None else replace(base, temperature=args.temperature)
    options = TurnOptions(effort=effort, max_tokens=args.max_tokens, sampling=sampling,
                          model_name=os.path.splitext(os.path.basename(path))[0],
                          system_prompt=args.system, adapters=adapters)
    if args.print_prompt:
        from fireside.core.chat.prompting import render
        from fireside.core.chat.session import build_request

        request = build_request((Message("user", prompt),), args.system, options)
        sys.stdout.write(render(gguf, request))
        sys.stdout.flush()
        return 0
    from fireside.core.engine.loading import load_config

    config = load_config(settings, n_ctx=args.ctx, n_threads=args.threads, n_gpu_layers=args.gpu_layers)
    return _reply(path, config, prompt, options, save=not args.no_save, as_json=args.json)


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


def _reply(path: str, config: Any, prompt: str, options: Any, *, save: bool, as_json: bool) -> int:
    from fireside.core.chat.session import ChatSession
    from fireside.core.engine.llama_engine import LlamaEngine
    from fireside.core.engine.protocol import EngineError
    from fireside.core.history.store import SchemaTooNew, Store, StoreError

    engine = LlamaEngine()
    try:
        engine.load(path, config)
    except EngineError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1
    store = None
    if save:
        try:
            store = Store()
        except (StoreError, SchemaTooNew, OSError) as e:
            print(f"fireside: this chat will not be saved: {e}", file=sys.stderr)
    printer = JsonPrinter(sys.stdout) if as_json else TextPrinter(sys.stdout, sys.stderr)
    try:
        for event in ChatSession(engine, store).send(None, prompt, options):
            printer.show(event)
    finally:
        if store is not None:
            store.close()
        engine.unload()
    return 1 if printer.failed else 0


class TextPrinter:
    """The answer on stdout, the reasoning and the figures on stderr, as a person reads them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err
        self.in_reasoning = False
        self.failed = False

    def show(self, event: object) -> None:
        from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ToolCall
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
            err.write(f"\n[the model calls {event.recipient} with {event.arguments}]\n")
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
                      "output": event.output, "error": event.error, "call_id": event.call_id}
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
