"""The Starlette application: routes, the key check, body limits and error shapes.

Handlers parse a request (400 on anything malformed), queue a `Job` on the engine
(`engine_access`), wait for it to start (404/503 when its model is unknown or cannot load, 400
when the conversation does not fit), then answer with JSON or server-sent events. A watcher on
the connection sets the job's cancel Event when the client goes away, queued or streaming.
Nothing a client sends escapes as an exception: the last resort is a 500 in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive

from fireside.core.chat.conversation import Effort
from fireside.core.history.api_responses import load_response, save_response
from fireside.core.history.store import Store, StoreError
from fireside.server import chat_completions, responses
from fireside.server.engine_access import EngineAccess, Job, JobEvent, Ready, Rejected, Unavailable, Work
from fireside.server.errors import ApiError, bad
from fireside.server.turns import new_id, work_for

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class LogEntry:
    """One request, for the window's live log (never the key, never the content)."""

    when: float
    method: str
    path: str
    status: int
    model: str = ""
    seconds: float = 0.0
    note: str = ""


@dataclass
class ServerOptions:
    key: str | None  # None: no key asked (loopback only, by the user's explicit choice)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    default_effort: Effort = Effort.MEDIUM
    on_log: Callable[[LogEntry], None] = field(default=lambda entry: None)
    # A stored response was written as (part of) this conversation of the history.
    on_stored: Callable[[int], None] = field(default=lambda conversation_id: None)


class _Api:
    def __init__(self, access: EngineAccess, store: Store | None, options: ServerOptions) -> None:
        self.access, self.store, self.options = access, store, options

    # ------------------------------------------------------------------ plumbing
    def _check_key(self, request: Request) -> None:
        key = self.options.key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise ApiError(401, "Missing or wrong API key. Send it as 'Authorization: Bearer KEY'; "
                                "Fireside shows the key in its Local API server window.",
                           code="invalid_api_key")

    async def _body(self, request: Request) -> Any:
        limit = self.options.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"The request is larger than {limit // (1024 * 1024)} MB.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"The request is larger than {limit // (1024 * 1024)} MB.")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError):
            raise bad("The request body is not valid JSON.") from None

    async def _start(self, request: Request, model: str, work: Work,
                     ) -> tuple[Job, str, AsyncIterator[JobEvent], asyncio.Task[None]]:
        """Queue the job; return once it started, with its events from the first one on."""
        job = Job(model, work, f"{request.method} {request.url.path}")
        job.bind(asyncio.get_running_loop())
        watcher = asyncio.create_task(_watch(request.receive, job.cancel))
        self.access.submit(job)
        events = job.events()
        try:
            first = await anext(events, None)
            if isinstance(first, Unavailable):
                raise ApiError(first.status, first.message, param="model",
                               code="model_not_found" if first.status == 404 else None)
            if not isinstance(first, Ready):
                raise ApiError(503, "The engine stopped before this request could run.")
            nxt = await anext(events, None)  # a request refused before generating: a 400
            if isinstance(nxt, Rejected):
                raise ApiError(400, nxt.message, param="messages", code=nxt.code or None)
        except BaseException:
            job.cancel.set()
            watcher.cancel()
            raise
        return job, first.model, _prepend(nxt, events), watcher

    def _logged(self, request: Request, status: int, model: str, t0: float, note: str = "") -> None:
        try:
            self.options.on_log(LogEntry(time.time(), request.method, request.url.path, status,
                                         model, time.perf_counter() - t0, note))
        except Exception:
            log.exception("The request log failed")

    def _stored_in(self, conversation_id: int) -> None:
        try:
            self.options.on_stored(conversation_id)
        except Exception:
            log.exception("Announcing a stored response failed")

    # ------------------------------------------------------------------ routes
    async def models(self, request: Request) -> Response:
        self._check_key(request)
        ids = await asyncio.to_thread(self.access.model_ids)
        return JSONResponse({"object": "list", "data": [
            {"id": i, "object": "model", "created": 0, "owned_by": "fireside"} for i in ids]})

    async def model(self, request: Request) -> Response:
        self._check_key(request)
        wanted = request.path_params["model"]
        if wanted not in await asyncio.to_thread(self.access.model_ids):
            raise ApiError(404, f"The model {wanted!r} does not exist.", param="model",
                           code="model_not_found")
        return JSONResponse({"id": wanted, "object": "model", "created": 0, "owned_by": "fireside"})

    async def chat(self, request: Request) -> Response:
        t0 = time.perf_counter()
        self._check_key(request)
        call = chat_completions.parse(await self._body(request), self.options.default_effort)
        job, model, events, watcher = await self._start(request, call.model, work_for(call.spec))
        if not call.stream:
            try:
                body = await chat_completions.complete(events, model)
            finally:
                watcher.cancel()
            self._logged(request, 200, model, t0)
            return JSONResponse(body)
        return self._sse(request, job, watcher, model, t0,
                         chat_completions.stream(events, model, call.include_usage))

    async def create_response(self, request: Request) -> Response:
        t0 = time.perf_counter()
        self._check_key(request)
        call = responses.parse(await self._body(request), self.options.default_effort)
        items, instructions = call.input_items, call.instructions
        if call.previous_response_id:
            previous = await asyncio.to_thread(self._stored, call.previous_response_id)
            items = previous.input_items + list(previous.response.get("output") or []) + items
            if instructions is None:
                instructions = previous.instructions
        spec = responses.spec_for(call, items, instructions)
        job, model, events, watcher = await self._start(request, call.model, work_for(spec))
        builder = responses.ResponseBuilder(
            responses.response_object(call, new_id("resp"), model, instructions))

        async def run() -> AsyncIterator[dict[str, Any]]:
            for e in builder.start():
                yield e
            async for event in events:
                for e in responses.events_for(builder, event):
                    yield e
            if call.store and self.store is not None and builder.response["status"] != "failed":
                try:
                    cid = await asyncio.to_thread(
                        save_response, self.store, builder.response, instructions, items,
                        new_items=call.input_items, previous_id=call.previous_response_id)
                except StoreError as exc:
                    log.warning("%s", exc)
                else:
                    if cid is not None:
                        self._stored_in(cid)

        if not call.stream:
            try:
                async for _ in run():
                    pass
            finally:
                watcher.cancel()
            if builder.response["status"] == "failed":
                raise ApiError(500, builder.response["error"]["message"])
            self._logged(request, 200, model, t0)
            return JSONResponse(builder.response)

        async def sse() -> AsyncIterator[bytes]:
            async for e in run():
                yield (f"event: {e['type']}\ndata: ".encode()
                       + json.dumps(e, ensure_ascii=False).encode() + b"\n\n")

        return self._sse(request, job, watcher, model, t0, sse())

    async def get_response(self, request: Request) -> Response:
        self._check_key(request)
        stored = await asyncio.to_thread(self._stored, request.path_params["response_id"])
        return JSONResponse(stored.response)

    def _stored(self, response_id: str) -> Any:
        if self.store is None:
            raise ApiError(404, f"No stored response {response_id!r}: the history is not available.",
                           param="previous_response_id")
        try:
            found = load_response(self.store, response_id)
        except StoreError as exc:
            raise ApiError(503, str(exc)) from None
        if found is None:
            raise ApiError(404, f"No stored response with id {response_id!r}.",
                           param="previous_response_id", code="response_not_found")
        return found

    def _sse(self, request: Request, job: Job, watcher: asyncio.Task[None], model: str,
             t0: float, chunks: AsyncIterator[bytes]) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                job.cancel.set()  # a no-op once the reply ended; stops it if the client left
                watcher.cancel()
                self._logged(request, 200, model, t0, "stream")

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _prepend(first: JobEvent | None, rest: AsyncIterator[JobEvent]) -> AsyncIterator[JobEvent]:
    if first is not None:
        yield first
    async for event in rest:
        yield event


async def _watch(receive: Receive, cancel: threading.Event) -> None:
    """Set `cancel` when the client disconnects (the body has been read by then)."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                cancel.set()
                return
    except asyncio.CancelledError:
        raise
    except Exception:  # a server shutting down: nothing to watch any more
        return


def _guarded(api: _Api, handler: Callable[[Request], Awaitable[Response]],
             ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            api._logged(request, exc.status, "", time.perf_counter(), exc.message)
            return exc.response()
        except Exception as exc:
            log.exception("The API request %s %s failed", request.method, request.url.path)
            return ApiError(500, f"Something went wrong in Fireside: {exc}").response()

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: f"Unknown URL {request.url.path}: this server answers /v1/models, "
                    "/v1/chat/completions and /v1/responses.",
               405: f"{request.method} is not allowed on {request.url.path}."}.get(
        status, "The request failed.")
    return ApiError(status, message).response()


def build_app(access: EngineAccess, store: Store | None, options: ServerOptions) -> Starlette:
    api = _Api(access, store, options)
    routes = [
        Route("/v1/models", _guarded(api, api.models), methods=["GET"]),
        Route("/v1/models/{model:path}", _guarded(api, api.model), methods=["GET"]),
        Route("/v1/chat/completions", _guarded(api, api.chat), methods=["POST"]),
        Route("/v1/responses", _guarded(api, api.create_response), methods=["POST"]),
        Route("/v1/responses/{response_id}", _guarded(api, api.get_response), methods=["GET"]),
    ]
    middleware = []
    if options.cors_origins:  # none by default: a web page the user visits cannot drive the model
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(options.cors_origins),
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type"]))
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: _http_error, 500: _http_error})
