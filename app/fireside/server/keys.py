"""The local API's key: `FIRESIDE_API_KEY` if set, else one made at first start and kept in the
OS keyring (never in a file, never in a log). Without a usable keyring the key lives in memory
for this run only, and the person is told so.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fireside.core.config.secrets import TokenStore

ENV = "FIRESIDE_API_KEY"
KEYRING_USER = "local-api-key"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # a sentence: where the key comes from

    def __repr__(self) -> str:  # never show the value in a log or a traceback
        return f"ApiKey(source={self.source!r})"


def new_key() -> str:
    return "fs-" + secrets.token_urlsafe(32)


def api_key(store: TokenStore | None = None, env: Mapping[str, str] | None = None) -> ApiKey:
    env = os.environ if env is None else env
    given = env.get(ENV, "").strip()
    if given:
        return ApiKey(given, f"from {ENV}")
    store = store if store is not None else TokenStore(user=KEYRING_USER)
    kept = store.get()
    if kept:
        return ApiKey(kept, "kept in your system keyring")
    key = new_key()
    where = store.set(key)
    if store.usable and where.startswith("Saved"):
        return ApiKey(key, "made now and kept in your system keyring")
    return ApiKey(key, "made for this run only: no secure keyring is available, so it changes "
                       "at the next start (set FIRESIDE_API_KEY to keep one)")


def rotate_key(store: TokenStore | None = None) -> ApiKey:
    """A new key replacing the kept one (the window's "New key" button)."""
    store = store if store is not None else TokenStore(user=KEYRING_USER)
    store.clear()
    return api_key(store, env={})
