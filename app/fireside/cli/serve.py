"""`fireside serve`: the local OpenAI-compatible API in the terminal.

Prints exactly one line on stdout, `Serving http://HOST:PORT/v1`, once it accepts connections;
everything else (warnings, where the key comes from) goes to stderr. Runs until SIGINT or
SIGTERM, then stops cleanly: open streams are cancelled, the model is freed, exit 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from fireside.cli.errors import BadInput


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the OpenAI API (Chat Completions, Responses)")
    serve.add_argument("--model", default="", help="the model to load now: a path or the name of "
                       "an installed model (default: load on the first request)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; "
                       "another interface needs the key and your organisation's leave)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8765; 0: a free one)")
    serve.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads (default: cores)")
    serve.add_argument("--cors-origin", action="append", default=None, metavar="ORIGIN",
                       help="a web origin allowed to call the API (repeatable; default none)")
    serve.add_argument("--show-key", action="store_true",
                       help="print the API key on stderr (it is never written to a file or log)")
    serve.add_argument("--no-load-on-demand", action="store_true",
                       help="answer 503 for a model that is not loaded instead of loading it")


def run(args: argparse.Namespace) -> int:
    from fireside.core.admin.model_access import LoadRefused, prepare_load
    from fireside.core.admin.policy import load_policy
    from fireside.core.config.paths import app_paths
    from fireside.core.config.settings import effective_settings, load_settings
    from fireside.core.engine.llama_engine import LlamaEngine
    from fireside.core.engine.loading import load_config
    from fireside.core.engine.prefix_state import PrefixStore
    from fireside.core.engine.protocol import EngineError
    from fireside.core.history.store import SchemaTooNew, Store, StoreError
    from fireside.core.models.folders import model_dirs
    from fireside.server.app import ServerOptions
    from fireside.server.keys import api_key
    from fireside.server.models import InstalledModels
    from fireside.server.runner import ServerError
    from fireside.server.standalone import start_standalone

    policy = load_policy()
    paths = app_paths(policy=policy)
    settings = effective_settings(load_settings(paths.settings_file), policy)
    host = args.host if args.host is not None else settings.api_host
    port = args.port if args.port is not None else settings.api_port
    if not 0 <= port <= 65535:
        raise BadInput("--port must be from 0 to 65535.")
    from fireside.server.runner import is_loopback

    if refusal := policy.api_server_refusal(host, is_loopback(host)):
        raise BadInput(refusal)
    dirs = model_dirs(paths, policy)
    extra: tuple[str, ...] = ()
    if args.model:
        try:
            extra = (prepare_load(args.model, policy, dirs, paths.cache),)
        except LoadRefused as exc:
            raise BadInput(str(exc)) from None
    config = load_config(settings, n_ctx=args.ctx, n_threads=args.threads)
    models = InstalledModels(policy, lambda: model_dirs(paths, policy), paths.cache, extra)
    engine = LlamaEngine(prefix_store=PrefixStore.default())
    if extra:
        try:
            engine.load(extra[0], config)
        except EngineError as exc:
            print(f"fireside: {exc}", file=sys.stderr)
            return 1
    key = api_key()
    store = None
    try:
        store = Store()
    except (StoreError, SchemaTooNew, OSError) as exc:
        print(f"fireside: stored responses are off: {exc}", file=sys.stderr)
    options = ServerOptions(key=key.value, cors_origins=tuple(args.cors_origin or settings.api_cors_origins),
                            default_effort=settings.effort_enum)
    try:
        served = start_standalone(engine, models, options, policy=policy, store=store, host=host,
                                  port=port, load_config=lambda: config,
                                  load_on_demand=settings.api_load_on_demand and not args.no_load_on_demand)
    except ServerError as exc:
        engine.unload()
        print(f"fireside: {exc}", file=sys.stderr)
        return 1
    for warning in served.warnings:
        print(warning, file=sys.stderr)
    if args.show_key:
        print(f"API key ({key.source}): {key.value}", file=sys.stderr)
    else:
        print(f"API key: {key.source}; --show-key prints it (or set FIRESIDE_API_KEY).",
              file=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"Serving {served.url}", flush=True)
    try:
        while not stop.wait(0.5):
            if not served.server.running:
                print("fireside: the API server stopped unexpectedly.", file=sys.stderr)
                return 1
    finally:
        served.stop()
    return 0
