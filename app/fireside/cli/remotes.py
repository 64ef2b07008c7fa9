"""`fireside remotes list|add|remove|test`: remote engine connections from a terminal.

An API key is read from stdin (`--key-stdin`), never taken as an argument (arguments end up in
shell history and process lists), and kept only in the OS keyring.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    remotes = sub.add_parser("remotes", help="remote engine connections (OpenAI-compatible servers)")
    rsub = remotes.add_subparsers(dest="remotes_command", required=True, parser_class=type(remotes))
    ls = rsub.add_parser("list", help="saved connections")
    ls.add_argument("--json", action="store_true")
    add = rsub.add_parser("add", help="save a connection (or replace one of the same name)")
    add.add_argument("name")
    add.add_argument("url", help="base URL, e.g. https://foundry.example.org/openai/v1")
    add.add_argument("--model", default="", help="the model used when none is named")
    add.add_argument("--ca-bundle", default="", help="a PEM file of extra trusted CAs")
    add.add_argument("--key-stdin", action="store_true",
                     help="read the API key from stdin and keep it in the OS keyring")
    rm = rsub.add_parser("remove", help="forget a connection and its key")
    rm.add_argument("name")
    test = rsub.add_parser("test", help="connect and list the endpoint's models")
    test.add_argument("name", metavar="NAME_OR_URL")
    test.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from fireside.core.engine.protocol import EngineError
    from fireside.core.engine.remotes import RemoteInputError, RemoteRefused

    handler = {"list": _list, "add": _add, "remove": _remove, "test": _test}[args.remotes_command]
    try:
        return handler(args)
    except (RemoteInputError, RemoteRefused) as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 2
    except EngineError as e:
        print(f"fireside: {e}", file=sys.stderr)
        return 1


def _context() -> tuple[Any, Any]:
    from fireside.core.admin.policy import load_policy
    from fireside.core.config.paths import app_paths

    policy = load_policy()
    return app_paths(policy=policy), policy


def _list(args: argparse.Namespace) -> int:
    from fireside.core.engine.remotes import Remotes, key_store

    paths, policy = _context()
    rows = []
    for c in Remotes(paths.config).all():
        has_key = key_store(c.name, policy).get() is not None
        rows.append({"name": c.name, "url": c.base_url, "model": c.model, "ca_bundle": c.ca_bundle,
                     "key": "keyring" if has_key else "none", "allowed": not policy.remote_refusal(
                         c.base_url)})
    if args.json:
        print(json.dumps({"remotes": rows}))
        return 0
    if not rows:
        print("No remote connections yet. Add one with `fireside remotes add NAME URL`.")
        return 0
    for r in rows:
        extra = [f"model {r['model']}" if r["model"] else "", "key in keyring" if r["key"] ==
                 "keyring" else "no key (OPENAI_API_KEY is used if set)",
                 "" if r["allowed"] else "not allowed by policy"]
        print(f"{r['name']}\t{r['url']}\t" + ", ".join(x for x in extra if x))
    return 0


def _add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fireside.core.engine.remotes import (
        Connection,
        RemoteInputError,
        RemoteRefused,
        Remotes,
        check_name,
        key_store,
        normalise_url,
        refusal,
    )

    paths, policy = _context()
    name, url = check_name(args.name), normalise_url(args.url)
    if why := refusal(url, paths, policy):
        raise RemoteRefused(why)
    if args.ca_bundle and not Path(args.ca_bundle).is_file():
        raise RemoteInputError(f"The CA bundle {args.ca_bundle} does not exist.")
    key = sys.stdin.readline().strip() if args.key_stdin else ""
    if args.key_stdin and not key:
        raise RemoteInputError("--key-stdin was given but stdin held no key.")
    ca = str(Path(args.ca_bundle).resolve()) if args.ca_bundle else ""
    store = key_store(name, policy)
    if key and not store.usable:
        print(f"fireside: {store.status()} Set OPENAI_API_KEY instead; the connection was not "
              "saved.", file=sys.stderr)
        return 1
    Remotes(paths.config).put(Connection(name, url, args.model.strip(), ca))
    if key:
        store.set(key)
    print(f"Saved {name} ({url}){', key in your system keyring' if key else ''}.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from fireside.core.engine.remotes import RemoteInputError, Remotes, key_store

    paths, policy = _context()
    if not Remotes(paths.config).remove(args.name):
        raise RemoteInputError(f"There is no remote connection named “{args.name}”.")
    key_store(args.name, policy).clear()
    print(f"Removed {args.name} and its key.")
    return 0


def _test(args: argparse.Namespace) -> int:
    from fireside.core.engine.remote_engine import RemoteEngine
    from fireside.core.engine.remotes import resolve

    paths, policy = _context()
    endpoint = resolve(args.name, paths, policy)
    engine = RemoteEngine(endpoint)
    try:
        models = engine.list_models()
    finally:
        engine.close()
    if args.json:
        print(json.dumps({"url": endpoint.base_url, "models": models}))
        return 0
    print(f"{endpoint.label} answers at {endpoint.base_url} with {len(models)} model"
          f"{'' if len(models) == 1 else 's'}:")
    for m in models:
        print(f"  {m}")
    return 0
