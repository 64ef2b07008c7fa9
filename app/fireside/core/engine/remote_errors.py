"""Failures talking to an OpenAI-compatible server, in words a person can act on.

Every message names the endpoint (its connection name, or its host) and says what to do: check the
address, set the key, wait until a given time, try again later, add a CA bundle.
"""

from __future__ import annotations

import ssl
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx2
import openai

from fireside.core.engine.remote_stream import StreamFailed

if TYPE_CHECKING:
    from fireside.core.engine.remote_engine import Endpoint


def error_text(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    text = e.response.text if e.response is not None else ""
    return text.strip()[:300] or e.message


def no_responses_api(e: openai.APIStatusError, model: str) -> bool:
    if e.status_code in (405, 501):
        return True
    if e.status_code != 404:
        return False
    text = error_text(e)
    return not (model and model in text) and "model" not in text.lower()


def retry_after_s(response: httpx2.Response | None, now: float | None = None) -> float | None:
    """Seconds a 429/503 asks to wait: `retry-after-ms`, `retry-after` seconds or HTTP date."""
    if response is None:
        return None
    ms = response.headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _when(seconds: float) -> str:
    if seconds < 90:
        return f"in {max(1, round(seconds))} seconds"
    at = time.strftime("%H:%M", time.localtime(time.time() + seconds))
    return f"in about {round(seconds / 60)} minutes (at {at})"


def cut_message(endpoint: Endpoint) -> str:
    return (f"The connection to {endpoint.label} ended before the reply was complete. What "
            "arrived is kept; try again to get the rest.")


def describe(e: BaseException, endpoint: Endpoint, *, mid_stream: bool = False) -> str:
    """One sentence (or two) a person can act on, for any failure talking to `endpoint`.

    `mid_stream`: part of the reply has arrived (and is kept), so a lost connection is a reply
    that broke off, not a server that cannot be reached.
    """
    who = endpoint.label
    if isinstance(e, openai.APITimeoutError | httpx2.TimeoutException):
        return (f"{who} did not answer within {endpoint.read_timeout_s:g} seconds, so Fireside "
                "stopped waiting. The server may be overloaded; try again later.")
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__ or e.__context__
        text = str(cause or e)
        if isinstance(cause, httpx2.TimeoutException):
            return describe(cause, endpoint)
        if mid_stream:
            return (f"The reply from {who} broke off ({text}). What arrived is kept; try again "
                    "for the rest.")
        if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(cause, ssl.SSLError):
            return (f"The secure connection to {who} could not be verified ({text}). If your "
                    "organisation uses its own certificate authority, add its CA bundle to this "
                    "connection.")
        return (f"Could not reach {who} at {endpoint.base_url} ({text}). Check the address and "
                "your network connection.")
    if isinstance(e, openai.APIStatusError):
        code, text = e.status_code, error_text(e)
        if code == 401:
            return (f"{who} refused the API key (401: {text}). Set the right key with "
                    "`fireside remotes add` or the OPENAI_API_KEY variable.")
        if code == 403:
            return f"{who} does not allow this (403: {text})."
        if code == 404:
            return f"{who} does not know this model or address (404: {text})."
        if code == 429:
            wait = retry_after_s(e.response)
            later = _when(wait) if wait is not None else "in a minute"
            return f"{who} is limiting requests (429: {text}). Try again {later}."
        if code >= 500:
            return (f"{who} failed with a server error ({code}: {text}). Try again later, or "
                    "tell whoever runs the server.")
        return f"{who} refused the request ({code}: {text})."
    if isinstance(e, httpx2.HTTPError | StreamFailed):
        return f"The reply from {who} broke off ({e}). What arrived is kept; try again for the rest."
    return f"{who} failed: {e}"
