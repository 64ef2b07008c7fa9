"""`fireside serve`'s parts, put together without Qt: an engine thread owning a LlamaEngine and
its ChatSession, the installed models, the Starlette app and uvicorn on its own thread.

Tests build the same thing in-process (`start_standalone`) with an engine of their choosing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fireside.core.admin.policy import Policy
from fireside.core.chat.session import ChatSession
from fireside.core.engine.protocol import Engine, LoadConfig
from fireside.core.history.store import Store
from fireside.server.app import ServerOptions, build_app
from fireside.server.engine_access import EngineThread, ModelSwitcher
from fireside.server.models import InstalledModels
from fireside.server.runner import ApiServer, ServerError, is_loopback


@dataclass
class Standalone:
    server: ApiServer
    engine_thread: EngineThread
    engine: Engine
    store: Store | None
    url: str
    warnings: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Server first (its streams cancel their jobs), then the engine thread, then the model."""
        self.server.stop()
        self.engine_thread.close()
        self.engine.unload()
        if self.store is not None:
            self.store.close()


def check_host(host: str, policy: Policy) -> list[str]:
    """Warnings for `host`, or ServerError when the policy forbids it."""
    loopback = is_loopback(host)
    if refusal := policy.api_server_refusal(host, loopback):
        raise ServerError(refusal)
    if loopback:
        return []
    return [f"Warning: the API server listens on {host}, so other computers on your network can "
            "reach it. Anyone with the key can use your model; keep the key secret."]


def start_standalone(engine: Engine, models: InstalledModels, options: ServerOptions, *,
                     policy: Policy, store: Store | None, host: str = "127.0.0.1", port: int = 0,
                     load_config: Callable[[], LoadConfig | None] = lambda: None,
                     load_on_demand: bool = True) -> Standalone:
    if options.key is None and not is_loopback(host):
        raise ServerError("The API server never listens beyond this computer without a key.")
    warnings = check_host(host, policy)
    session = ChatSession(engine, store=None)  # API turns are not chats in the window's history
    switch = ModelSwitcher(lambda: engine, models, load_config, load_on_demand)

    def model_ids() -> list[str]:
        loaded = switch.loaded_id()
        return ([loaded] if loaded else []) + [m for m in models.ids() if m != loaded]

    engine_thread = EngineThread(session, switch, model_ids)
    server = ApiServer(build_app(engine_thread, store, options), host, port)
    try:
        url = server.start()
    except ServerError:
        engine_thread.close()
        raise
    return Standalone(server, engine_thread, engine, store, url, warnings)
