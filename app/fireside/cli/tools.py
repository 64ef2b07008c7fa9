"""`fireside tools list|call`: the tools Fireside can run, and one call run as the model's would be.

Exit codes follow the CLI contract: 0 success; 1 the tool failed, timed out or is not available;
2 bad input (unknown tool, arguments that are not a JSON object, a tool that is off or refused by
policy, a bad --timeout), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fireside.core.tools.defaults import build_registry
from fireside.core.tools.registry import PYTHON, BadCall, ToolRegistry


def add_parser(sub: Any) -> None:
    tools = sub.add_parser("tools", help="the tools the model can use (python, MCP servers)")
    verbs = tools.add_subparsers(dest="verb", parser_class=type(tools), required=True)
    p = verbs.add_parser("list", help="every tool, with its MCP server and state")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--refresh", action="store_true",
                   help="start every enabled server and list its tools afresh")
    p = verbs.add_parser("call", help="run one tool exactly as a model's call would")
    p.add_argument("name", help="python, or a tool name from `fireside tools list`")
    p.add_argument("arguments", nargs="?", default=None,
                   help="a JSON object of arguments (for python: the code); '-' or omitted: stdin "
                        "for python, {} otherwise")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="give up after S seconds (default 120)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.verb == "call" and args.timeout is not None and not 0 < args.timeout <= 86_400:
        print("fireside: --timeout must be a number of seconds above 0.", file=sys.stderr)
        return 2
    with build_registry() as registry:
        for problem in registry.problems:
            print(f"fireside: {problem}", file=sys.stderr)
        if args.verb == "list":
            return _list(registry, args)
        return _call(registry, args)


def _list(registry: ToolRegistry, args: argparse.Namespace) -> int:
    entries = registry.entries(start=True, refresh=args.refresh)
    servers = registry.servers()
    if args.json:
        print(json.dumps({"tools": [e.as_json() for e in entries],
                          "servers": [s.as_json() for s in servers],
                          "config": str(registry.config.path),
                          "problems": list(registry.problems)}, indent=2, ensure_ascii=False))
        return 0
    by_server = {s.name: s for s in servers}
    print(f"{PYTHON}  [{entries[0].state}]" + (f"  {entries[0].reason}" if entries[0].reason else ""))
    for s in servers:
        detail = f"{s.transport}: {s.target}"
        print(f"\nMCP server {s.name}  [{s.state}]  ({detail})" + (f"\n  {s.error}" if s.error else ""))
        for e in (e for e in entries if e.server == s.name):
            flag = "" if e.state == "on" else f"  [{e.state}]"
            allow = "  [always allowed]" if e.always_allow else ""
            first = e.description.strip().splitlines()[0] if e.description.strip() else ""
            print(f"  {e.name}{flag}{allow}" + (f"  {first[:100]}" if first else ""))
        if not any(e.server == s.name for e in entries) and by_server[s.name].state != "failed":
            print("  (no tools listed yet)")
    if not servers:
        print(f"\nNo MCP servers configured ({registry.config.path}).")
    return 0


def _call(registry: ToolRegistry, args: argparse.Namespace) -> int:
    name = args.name.strip().removeprefix("functions.")
    text = args.arguments
    if text is None or text == "-":
        text = sys.stdin.read() if name == PYTHON or text == "-" else "{}"
    if name == PYTHON and (registry.python is None or registry.python_unavailable):
        print(f"fireside: {registry.python_refusal()}", file=sys.stderr)
        return 1
    try:
        registry.prepare(name, text)
    except BadCall as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1 if e.runtime else 2
    result = registry.call(name, text, args.timeout, conversation="cli")
    if args.json:
        print(json.dumps({"name": name, "output": result.output, "error": result.error,
                          "duration_s": round(result.duration_s, 4)}, ensure_ascii=False))
    elif not result.error or result.output.count("\n") > 0:
        sys.stdout.write(result.output + ("" if result.output.endswith("\n") else "\n"))
    if result.error:
        lines = result.output.strip().splitlines()
        # A traceback's last line says what went wrong; anything else says it on its first.
        reason = (lines[-1] if lines[0].startswith("Traceback") else lines[0]) if lines else "it failed"
        print(f"fireside: {name}: {reason}", file=sys.stderr)
        return 1
    return 0
