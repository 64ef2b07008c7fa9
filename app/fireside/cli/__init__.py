"""`fireside`: the window by default; `chat` and `doctor` for the terminal.

Exit codes: 0 success, 1 runtime failure, 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from fireside import __version__
from fireside.cli.errors import BadInput

log = logging.getLogger("fireside")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fireside", description="Run gpt-oss on your own machine.")
    p.add_argument("--version", action="version", version=f"Fireside {__version__}")
    p.add_argument("--model", help="open the window with this GGUF model loaded")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    from fireside.cli.chat import add_parser as add_chat_parser

    add_chat_parser(sub)

    doctor = sub.add_parser("doctor", help="report versions, paths and hardware")
    doctor.add_argument("--json", action="store_true")

    from fireside.cli.conversations import add_parser as add_conversations_parser

    add_conversations_parser(sub)
    from fireside.cli.models import add_parser as add_models_parser

    add_models_parser(sub)
    from fireside.cli import tools as tools_cli

    tools_cli.add_parser(sub)
    from fireside.cli.remotes import add_parser as add_remotes_parser

    add_remotes_parser(sub)
    from fireside.cli import serve as serve_cli

    serve_cli.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        from fireside.core.config.logs import setup_logging
        from fireside.core.config.paths import app_paths

        setup_logging(app_paths())
        if args.command == "chat":
            from fireside.cli.chat import run as run_chat

            return run_chat(args)
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "models":
            from fireside.cli.models import run as run_models

            return run_models(args)
        if args.command == "tools":
            from fireside.cli.tools import run as run_tools

            return run_tools(args)
        if args.command == "serve":
            from fireside.cli.serve import run as run_serve

            return run_serve(args)
        if args.command == "conversations":
            from fireside.cli.conversations import run as run_conversations

            return run_conversations(args)
        if args.command == "remotes":
            from fireside.cli.remotes import run as run_remotes

            return run_remotes(args)
        from fireside.ui.shell.display import no_display_reason

        if reason := no_display_reason():  # before PySide6 is imported: Qt would abort
            raise BadInput(reason)
        from fireside.ui.shell.app import run_gui

        return run_gui(args.model)
    except BadInput as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _doctor(args: argparse.Namespace) -> int:
    from fireside.core.admin.doctor import format_text, report

    r = report()
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 1 if "error" in r["llama"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
