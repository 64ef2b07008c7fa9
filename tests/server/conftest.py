"""An in-process API server on 127.0.0.1 (a free port) over the real engine on the tiny gpt-oss.

The tiny model's weights are random: it never ends a reply by itself, so tests either cap the
reply (max_tokens) or force the harmony tokens a real model would write (tests/helpers/forcing.py).
The engine records each prompt it rendered, so a test can see what the model was asked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import ChatRequest
from fireside.core.chat.events import Event
from fireside.core.engine.llama_engine import LlamaEngine
from fireside.core.engine.prefix_state import PrefixStore
from fireside.core.engine.protocol import LoadConfig
from fireside.core.history.store import Store
from fireside.server.app import LogEntry, ServerOptions
from fireside.server.models import InstalledModels
from fireside.server.standalone import Standalone, start_standalone
from tests.helpers.forcing import ForcingSampler

KEY = "fs-test-key"
# Room for a tool round trip; a 3,000-word message still overflows it.
LOAD = LoadConfig(n_ctx=2048, n_batch=64, n_threads=1)


class RecordingEngine(LlamaEngine):
    """The real engine with the shared-prefix store, as `fireside serve` builds it, remembering the
    prompt of every reply it streamed."""

    def __init__(self, forcing: ForcingSampler) -> None:
        super().__init__(sampler_factory=forcing, prefix_store=PrefixStore.default())
        self.prompts: list[str] = []
        self.cancels: list[threading.Event] = []  # each reply's cancel Event
        self.idle = threading.Event()  # clear while a reply is being generated
        self.idle.set()
        # A test may hold generation: each event waits for a permit (the engine pauses between
        # two tokens, where it also checks for cancellation).
        self.hold: threading.Semaphore | None = None
        self.after_cancel: list[Event] = []  # events the last reply yielded once cancelled

    def stream(self, request: ChatRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        self.prompts.append(self.render_prompt(request))
        cancel = cancel or threading.Event()
        self.cancels.append(cancel)
        inner = super().stream(request, cancel)
        self.after_cancel = []

        def run() -> Iterator[Event]:
            self.idle.clear()
            try:
                for event in inner:
                    if self.hold is not None:
                        self.hold.acquire()
                    if cancel.is_set():
                        self.after_cancel.append(event)
                    yield event
            finally:
                self.idle.set()

        return run()


@dataclass
class Served:
    standalone: Standalone
    engine: RecordingEngine
    forcing: ForcingSampler
    store_path: Path
    log: list[LogEntry]
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.standalone.url

    def client(self, key: str = KEY) -> openai.OpenAI:
        """One client per key, closed with the server (its connections are reused)."""
        if key not in self.clients:
            self.clients[key] = openai.OpenAI(base_url=self.url, api_key=key, max_retries=0,
                                              timeout=60)
        return self.clients[key]

    def stop(self) -> None:
        for c in self.clients.values():
            c.close()
        self.standalone.stop()

    def force(self, text: str) -> None:
        self.forcing.force_text(self.engine, text)


def serve(tiny: Path, gemma: Path | None, store_path: Path, *, more: tuple[str, ...] = (),
          load_on_demand: bool = True, **options: object) -> Served:
    forcing = ForcingSampler()
    engine = RecordingEngine(forcing)
    engine.load(str(tiny), LOAD)
    policy = load_policy([])
    extra = (str(tiny),) + ((str(gemma),) if gemma else ()) + more
    models = InstalledModels(policy, lambda: [], store_path.parent, extra)
    log: list[LogEntry] = []
    opts = ServerOptions(key=KEY, on_log=log.append, **options)  # type: ignore[arg-type]
    standalone = start_standalone(engine, models, opts, policy=policy, store=Store(store_path),
                                  load_config=lambda: LOAD, load_on_demand=load_on_demand)
    return Served(standalone, engine, forcing, store_path, log)


@pytest.fixture(scope="module")
def served(tiny_gptoss_path: Path, gemma_path: Path, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Served]:
    s = serve(tiny_gptoss_path, gemma_path, tmp_path_factory.mktemp("api") / "history.sqlite3")
    yield s
    s.stop()


def raw(served: Served, method: str, path: str, body: object = None, *, key: str | None = KEY,
        data: bytes | None = None, headers: dict[str, str] | None = None,
        ) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request (no client library's retries or parsing): status, headers, body."""
    import http.client
    import json
    from urllib.parse import urlsplit

    url = urlsplit(served.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        h = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        payload = data if data is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, "/v1" + path, body=payload, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()
