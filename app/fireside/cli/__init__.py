"""`fireside`: the window by default; `chat` and `doctor` for the terminal.

Exit codes: 0 success, 1 runtime failure, 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from fireside import __version__

log = logging.getLogger("fireside")


class BadInput(Exception):
    """Input we can name the problem with: exit 2 with this message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fireside", description="Run gpt-oss on your own machine.")
    p.add_argument("--version", action="version", version=f"Fireside {__version__}")
    p.add_argument("--model", help="open the window with this GGUF model loaded")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

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
    chat.add_argument("--json", action="store_true", help="one JSON object per line")
    chat.add_argument("--print-prompt", action="store_true", help="print the prompt and exit")
    chat.add_argument("--no-save", action="store_true", help="do not keep this chat in your history")
    chat.add_argument("prompt", nargs="?", help="your message (read from stdin if omitted)")

    doctor = sub.add_parser("doctor", help="report versions, paths and hardware")
    doctor.add_argument("--json", action="store_true")

    from fireside.cli.conversations import add_parser as add_conversations_parser

    add_conversations_parser(sub)
    from fireside.cli.models import add_parser as add_models_parser

    add_models_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        from fireside.core.config.logs import setup_logging
        from fireside.core.config.paths import app_paths

        setup_logging(app_paths())
        if args.command == "chat":
            return _chat(args)
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "models":
            from fireside.cli.models import run as run_models

            return run_models(args)
        if args.command == "conversations":
            from fireside.cli.conversations import run as run_conversations

            return run_conversations(args)
        from fireside.ui.shell.app import run_gui

        return run_gui(args.model)
    except BadInput as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _chat(args: argparse.Namespace) -> int:
    from fireside.core.chat.conversation import ChatRequest, Effort, Message, Sampling
    from fireside.core.models.gguf_info import GGUFError, read_gguf
    from fireside.core.config.paths import app_paths
    from fireside.core.admin.policy import load_policy
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
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    if not prompt.strip():
        raise BadInput("Nothing to send: give a prompt or pipe one in.")
    from fireside.core.admin.model_access import load_refusal
    from fireside.core.models.folders import NotFound, model_dirs, resolve_model

    dirs = model_dirs(paths, policy)
    given = args.model
    try:
        args.model = str(resolve_model(given, dirs, policy))
    except NotFound as e:
        raise BadInput(str(e)) from None
    try:
        gguf = read_gguf(args.model)
    except GGUFError as e:
        found = "" if os.path.abspath(given) == args.model else f" (found at {args.model})"
        raise BadInput(f"{e}{found}") from None
    if refusal := load_refusal(args.model, policy, dirs, paths.cache):
        raise BadInput(refusal)

    sampling = None  # the right defaults for the model
    if args.temperature is not None or args.seed is not None:
        from dataclasses import replace

        base = Sampling.for_model(gguf.is_harmony, seed=args.seed)
        sampling = base if args.temperature is None else replace(base, temperature=args.temperature)
    request = ChatRequest(
        messages=(Message("user", prompt),),
        system_prompt=args.system,
        effort=effort,
        max_tokens=args.max_tokens,
        sampling=sampling,
    )
    if args.print_prompt:
        from fireside.core.chat.prompting import render

        sys.stdout.write(render(gguf, request))
        sys.stdout.flush()
        return 0
    return _run_chat(args, settings, request)


def _run_chat(args: argparse.Namespace, settings, request) -> int:  # type: ignore[no-untyped-def]
    from fireside.core.engine.protocol import BadModelFile, EngineError, LoadConfig
    from fireside.core.chat.events import AnswerDelta, Done, ReasoningDelta, ToolCall
    from fireside.core.engine.llama_engine import LlamaEngine

    config = LoadConfig(
        n_ctx=args.ctx or settings.n_ctx,
        n_threads=args.threads or settings.n_threads or None,
        n_gpu_layers=settings.n_gpu_layers if args.gpu_layers is None else args.gpu_layers,
        flash_attn=settings.flash_attn,
        # the planner decides unless the user pinned the GPU split on the command line
        auto_fit=settings.auto_fit and args.gpu_layers is None,
    )
    engine = LlamaEngine()
    try:
        engine.load(args.model, config)
    except EngineError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2 if isinstance(e, BadModelFile) else 1  # a file llama.cpp refuses is bad input
    out, err = sys.stdout, sys.stderr
    in_reasoning = False
    history = None
    if not args.no_save:
        from pathlib import Path

        from fireside.cli.conversations import ChatRecord

        history = ChatRecord(request.messages[-1].text, request.system_prompt,
                             Path(args.model).stem, request.effort.value)
    try:
        for ev in engine.stream(request):
            if history is not None:
                if isinstance(ev, ReasoningDelta | AnswerDelta):
                    history.add(ev.text if isinstance(ev, ReasoningDelta) else "",
                                ev.text if isinstance(ev, AnswerDelta) else "")
                elif isinstance(ev, Done):
                    history.finish(ev.stats.as_json(), ev.stats.stop_reason)
            if args.json:
                if isinstance(ev, ReasoningDelta):
                    record = {"type": "reasoning", "text": ev.text}
                elif isinstance(ev, AnswerDelta):
                    record = {"type": "answer", "text": ev.text}
                elif isinstance(ev, ToolCall):
                    record = {"type": "tool_call", "recipient": ev.recipient,
                              "arguments": ev.arguments, "channel": ev.channel,
                              "content_type": ev.content_type}
                else:
                    record = {"type": "done", "stats": ev.stats.as_json()}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                continue
            if isinstance(ev, ReasoningDelta):
                if not in_reasoning:
                    err.write("Thinking: ")
                    in_reasoning = True
                err.write(ev.text)
                err.flush()
            elif isinstance(ev, AnswerDelta):
                if in_reasoning:
                    err.write("\n\n")
                    in_reasoning = False
                out.write(ev.text)
                out.flush()
            elif isinstance(ev, Done):
                s = ev.stats
                out.write("\n")
                err.write(
                    f"[{s.ttft_s:.2f} s to first token, {s.tokens_per_s:.1f} tok/s, "
                    f"{s.reasoning_tokens} reasoning + {s.answer_tokens} answer tokens"
                    f"{', stopped: ' + s.stop_reason if s.stop_reason != 'end' else ''}]\n"
                )
    except EngineError as e:
        print(f"fireside: {e}", file=sys.stderr)
        if history is not None:
            history.close("error")
        return 1
    finally:
        if history is not None:
            history.close()
        engine.unload()
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from fireside.core.admin.doctor import format_text, report

    r = report()
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 1 if "error" in r["llama"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
