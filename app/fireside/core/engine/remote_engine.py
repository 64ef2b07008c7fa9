"""RemoteEngine: the Engine protocol over the OpenAI API, to any compatible endpoint.

Speaks through the official `openai` client with `base_url`: Azure AI Foundry, vLLM, llama.cpp's
server, Ollama, LM Studio or another Fireside. It asks for the Responses API first and falls back to
Chat Completions when the endpoint has no `/responses` (404/405), remembering that per endpoint for
the rest of the run. The tool loop stays Fireside's: a function call ends the reply with
`ToolCall` events and `Done(stop_reason="tool_call")`, exactly as the local engine does.

Failures: before the first event, `stream` raises EngineError (ContextOverflow when the server says
the prompt is too long) with a sentence a person can act on. After deltas have gone out, nothing
is taken back: the reply ends with `Done(stop_reason="error")` and the sentence in
`ReplyStats.message`. A 429 is waited out once when its `retry-after` is short; connect and read
timeouts turn a dead or stalled server into a message instead of a hang; `cancel` closes the stream
between two chunks. TLS is always verified; `Endpoint.ca_bundle` adds a corporate CA.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from fireside.core.chat.conversation import AdapterUse, ChatRequest
from fireside.core.chat.events import AnswerDelta, Done, Event, ReasoningDelta, ReplyStats, ToolCall
from fireside.core.engine import remote_stream
from fireside.core.engine.protocol import ContextOverflow, EngineError, LoadConfig, ModelInfo, ModelLoadError
from fireside.core.engine.remote_errors import (
    cut_message,
    describe,
    error_text,
    no_responses_api,
    retry_after_s,
)
from fireside.core.engine.remote_wire import chat_body, responses_body

log = logging.getLogger(__name__)

REMOTE_FORMAT = "remote"  # ModelInfo.prompt_format of a remote model
MAX_RETRY_WAIT_S = 30.0  # a 429 asking for a longer wait is reported, not waited out
CANCEL_POLL_S = 0.05  # how soon Stop cuts a reply whose server has gone quiet
_NO_KEY = "no-key"  # the client needs some key; servers without auth ignore it

# Per endpoint, for the whole run: endpoints without /responses, and (endpoint, model) pairs that
# refused reasoning fields (a non-reasoning model behind a strict server).
_CHAT_ONLY: set[str] = set()
_NO_REASONING_FIELDS: set[tuple[str, str]] = set()


class _NoModelList(EngineError):
    """GET /models answered 404: a gateway that does not list models (any name is tried)."""


@dataclass(frozen=True)
class Endpoint:
    """Where a remote engine lives and how to reach it. `api_key` is never written anywhere."""

    base_url: str  # e.g. "https://foundry.example.org/openai/v1", "http://127.0.0.1:8000/v1"
    api_key: str = ""
    name: str = ""  # the connection's name, for messages ("" for a bare URL)
    ca_bundle: str = ""  # a PEM file of extra trusted CAs (corporate proxy); "" = the usual store
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0  # the longest silence accepted between two chunks

    @property
    def label(self) -> str:
        return self.name or (urlsplit(self.base_url).netloc or self.base_url)


def make_client(endpoint: Endpoint) -> openai.OpenAI:
    """The `openai` client for `endpoint`: our own timeouts, no silent retries, TLS verified."""
    if endpoint.ca_bundle:
        try:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=endpoint.ca_bundle)
        except (OSError, ssl.SSLError) as e:
            raise EngineError(f"The CA bundle {endpoint.ca_bundle} could not be read ({e}).") from None
    else:
        verify = True
    timeout = httpx2.Timeout(endpoint.read_timeout_s, connect=endpoint.connect_timeout_s)
    http = httpx2.Client(verify=verify, timeout=timeout, follow_redirects=True)
    return openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or _NO_KEY,
                         max_retries=0, timeout=timeout, http_client=http)


class RemoteEngine:
    """One remote model at a time. Not thread-safe: one worker thread owns it, like LlamaEngine."""

    def __init__(self, endpoint: Endpoint, client: openai.OpenAI | None = None) -> None:
        self.endpoint = endpoint
        self._client = client if client is not None else make_client(endpoint)
        self._info: ModelInfo | None = None
        self._model = ""

    # -------------------------------------------------------------------- models
    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def list_models(self) -> list[str]:
        """The model ids the endpoint offers. Raises EngineError with a readable message."""
        return [m["id"] for m in self._list_raw()]

    def _list_raw(self) -> list[dict[str, Any]]:
        try:
            page = self._client.models.list()
            return [m.model_dump() for m in page.data]
        except openai.NotFoundError as e:
            raise _NoModelList(describe(e, self.endpoint)) from None
        except openai.OpenAIError as e:
            raise EngineError(describe(e, self.endpoint)) from None

    def load(self, path: str, config: LoadConfig | None = None) -> ModelInfo:
        """Choose the remote model `path` (a model id; "" takes the endpoint's only model).

        The endpoint must list it, unless it has no model list at all (404), as some gateways.
        """
        model = path.strip()
        try:
            listed = self._list_raw()
        except _NoModelList:
            listed = []
            if not model:
                raise ModelLoadError(f"{self.endpoint.label} does not list its models: "
                                     "name the model to use.") from None
        except EngineError as e:
            raise ModelLoadError(str(e)) from None
        ids = [m["id"] for m in listed]
        if not model and len(ids) == 1:
            model = ids[0]
        if listed and model not in ids:
            offered = ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")
            what = f"does not offer the model “{model}”" if model else "offers several models"
            raise ModelLoadError(f"{self.endpoint.label} {what}. Choose one of: {offered}.")
        meta = next((m for m in listed if m["id"] == model), {})
        n_ctx = _context_length(meta)
        self._model = model
        self._info = ModelInfo(
            path=f"{self.endpoint.base_url.rstrip('/')}#{model}", name=model,
            architecture=REMOTE_FORMAT, prompt_format=REMOTE_FORMAT, n_ctx=n_ctx, n_ctx_train=n_ctx,
            size_bytes=0, note=f"Runs on {self.endpoint.label}, not on this computer.")
        return self._info

    def unload(self) -> None:
        self._info = None
        self._model = ""

    def close(self) -> None:
        """Close the connection pool (also done when the engine is dropped)."""
        self.unload()
        self._client.close()

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    # ------------------------------------------------------------------ prompts
    def _api(self) -> str:
        return "chat" if self.endpoint.base_url in _CHAT_ONLY else "responses"

    def _body(self, request: ChatRequest, api: str) -> dict[str, Any]:
        lenient = (self.endpoint.base_url, self._model) in _NO_REASONING_FIELDS
        if api == "chat":
            return chat_body(request, self._model, send_effort=not lenient, send_reasoning=not lenient)
        return responses_body(request, self._model, send_effort=not lenient,
                              send_reasoning=not lenient)

    def render_prompt(self, request: ChatRequest) -> str:
        """A remote prompt is rendered by the server; this is the exact request body sent to it."""
        self._require()
        api = self._api()
        path = "/chat/completions" if api == "chat" else "/responses"
        return f"POST {self.endpoint.base_url.rstrip('/')}{path}\n" + json.dumps(
            self._body(request, api), indent=2, ensure_ascii=False)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        """An estimate (about 4 characters a token): the server's tokenizer is not here."""
        self._require()
        return max(1, len(json.dumps(self._body(request, "chat")["messages"])) // 4)

    def _require(self) -> str:
        if not self._model:
            raise EngineError("No remote model is chosen yet.")
        return self._model

    # --------------------------------------------------------------- streaming
    def stream(self, request: ChatRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        self._require()
        if adapters := tuple(u for u in request.adapters if u.scale != 0.0):  # 0 changes nothing
            raise EngineError(adapters_refused(adapters, self.endpoint.label))
        return self._run(request, cancel)

    def _run(self, request: ChatRequest, cancel: threading.Event | None) -> Iterator[Event]:
        t_start = time.perf_counter()
        opened = self._open(request, cancel)
        if opened is None:  # cancelled while waiting out a 429
            yield Done(ReplyStats(total_s=time.perf_counter() - t_start, stop_reason="cancelled"))
            return
        api, raw = opened
        acc = remote_stream.Tally()
        events: Iterable[Event] = (remote_stream.chat_events(raw, acc) if api == "chat"
                                   else remote_stream.responses_events(raw, acc))
        stop, message, sent = "", "", False
        finished = threading.Event()
        if cancel is not None:  # Stop works even while the server is silent
            threading.Thread(target=_close_on_cancel, args=(cancel, finished, raw.response),
                             name="remote-cancel", daemon=True).start()
        try:
            for ev in events:
                if cancel is not None and cancel.is_set():
                    stop = "cancelled"
                    break
                sent = True
                yield ev
            if cancel is not None and cancel.is_set():
                stop = "cancelled"
        except (openai.OpenAIError, httpx2.HTTPError, remote_stream.StreamFailed) as e:
            if cancel is not None and cancel.is_set():
                stop = "cancelled"  # the watcher shut the connection
            else:
                message = describe(e, self.endpoint, mid_stream=sent)
                if not sent:
                    raise _classify(e, message, request, self) from None
                log.warning("remote reply cut: %s", message)
                stop = "error"
        finally:
            finished.set()
            raw.close()
        if not stop:
            stop = acc.stop or "end"
            if stop == "cut":
                if not sent:
                    raise EngineError(cut_message(self.endpoint))
                stop, message = "error", cut_message(self.endpoint)
        yield Done(acc.stats(t_start, stop, message))

    def _open(self, request: ChatRequest, cancel: threading.Event | None
              ) -> tuple[str, openai.Stream[Any]] | None:
        """Send the request; handle the Responses fallback, one short 429 wait, and lenient retry."""
        waited = lenient_tried = False
        while True:
            api = self._api()
            body = self._body(request, api)
            try:
                if api == "chat":
                    raw = self._client.chat.completions.create(**body)
                else:
                    raw = self._client.responses.create(**body)
                assert isinstance(raw, openai.Stream)
                return api, raw
            except openai.APIStatusError as e:
                if api == "responses" and no_responses_api(e, self._model):
                    log.info("%s has no Responses API; using Chat Completions",
                             self.endpoint.base_url)
                    _CHAT_ONLY.add(self.endpoint.base_url)
                    continue
                if (e.status_code in (400, 422) and not lenient_tried and "reason" in
                        error_text(e).lower()):
                    lenient_tried = True
                    _NO_REASONING_FIELDS.add((self.endpoint.base_url, self._model))
                    continue
                if e.status_code == 429 and not waited:
                    wait = retry_after_s(e.response)
                    if wait is not None and wait <= MAX_RETRY_WAIT_S:
                        waited = True
                        log.info("%s asked to wait %.1f s (429)", self.endpoint.base_url, wait)
                        if (cancel or threading.Event()).wait(wait):
                            return None
                        continue
                raise _classify(e, describe(e, self.endpoint), request, self) from None
            except openai.OpenAIError as e:
                raise EngineError(describe(e, self.endpoint)) from None


def _close_on_cancel(cancel: threading.Event, finished: threading.Event,
                     response: httpx2.Response) -> None:
    """Shut the reply's socket when `cancel` is set, so a read blocked on a silent server returns
    at once (closing the response from another thread does not wake a blocked read)."""
    while not finished.is_set():
        if cancel.wait(CANCEL_POLL_S):
            if finished.is_set():
                return
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed: the reply ended meanwhile
                    pass
            return


# -- errors in words ---------------------------------------------------------------------------
_MAX_CTX = re.compile(r"(?:maximum context length|context (?:length|size|window))\D{0,30}(\d{3,7})", re.I)


def _classify(e: BaseException, message: str, request: ChatRequest,
              engine: RemoteEngine) -> EngineError:
    if isinstance(e, openai.BadRequestError):
        text = error_text(e)
        if "context" in text.lower() and ("length" in text.lower() or "exceed" in text.lower()):
            m = _MAX_CTX.search(text)
            n_ctx = int(m.group(1)) if m else (engine.info.n_ctx if engine.info else 0)
            return ContextOverflow(
                f"This conversation is longer than {engine.endpoint.label} accepts for this model "
                f"({text}). Shorten your message or start a new chat.",
                engine.count_prompt_tokens(request), n_ctx)
    return EngineError(message)


def _context_length(meta: dict[str, Any]) -> int:
    """The context a model listing declares (vLLM, LM Studio, llama.cpp's meta), or 0: unknown."""
    for key in ("max_model_len", "context_length", "max_context_length", "n_ctx"):
        v = meta.get(key)
        if isinstance(v, int) and v > 0:
            return v
    inner = meta.get("meta")
    if isinstance(inner, dict):
        v = inner.get("n_ctx_train") or inner.get("n_ctx")
        if isinstance(v, int) and v > 0:
            return v
    return 0


__all__ = ["REMOTE_FORMAT", "AnswerDelta", "Endpoint", "ReasoningDelta", "RemoteEngine", "ToolCall",
           "describe", "make_client", "retry_after_s"]


def adapters_refused(adapters: tuple[AdapterUse, ...], where: str) -> str:
    """Why a reply that asks for LoRA adapters is not sent to a remote engine.

    Refused before anything is sent, rather than sent without them: an adapter changes what the
    model says (a fine-tune for a task, a style, a language), so a reply written without it would
    be a different model's reply recorded under a preset that promises the adapter, and the
    person may not notice. Refusing costs no tokens and names both ways out; `fireside chat
    --lora ... --remote ...` refuses the same pair as bad input."""
    names = ", ".join(u.label for u in adapters)
    which = "LoRA adapter" if len(adapters) == 1 else "LoRA adapters"
    return (f"Not sent: this preset's {which} ({names}) can only be applied to a model on this "
            f"computer, and {where} is a remote engine. Choose a preset without adapters, or a "
            "local model, and send again.")
