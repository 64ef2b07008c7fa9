"""Tokens (the Hugging Face token, remote engines' API keys): in the OS keyring, or in memory only.
Never in a file, never in a log. Each secret is one keyring entry: service "Fireside", user
`HF_TOKEN_USER` or `remote_key_user(name)`.

keyring picks a backend by priority. On a headless Linux box that is the `fail` backend; with
keyrings.alt installed it can be a plaintext file in the home folder, which is exactly "a token on
disk in plain text" with extra steps. Both count as unusable here: we keep the token in memory for
this run and tell the user why, instead of saving it somewhere they did not agree to.
"""

from __future__ import annotations

import threading
from typing import Any

SERVICE = "Fireside"
HF_TOKEN_USER = "huggingface-token"
REMOTE_KEY_PREFIX = "remote-api-key:"


def remote_key_user(connection: str) -> str:
    """The keyring user name under which a remote connection's API key is kept."""
    return REMOTE_KEY_PREFIX + connection
_UNSAFE_MODULES = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


def _backend_usable(backend: Any) -> bool:
    module = type(backend).__module__
    name = type(backend).__name__.lower()
    if module.startswith(_UNSAFE_MODULES) or "plaintext" in name:
        return False
    children = getattr(backend, "backends", None)  # keyring's ChainerBackend
    if children is not None:
        return any(_backend_usable(b) for b in children)
    return True


def _describe(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


class TokenStore:
    """One per app. `set` says where the token went in a sentence the UI can show as it is."""

    def __init__(self, backend: Any | None = None, *, keyring_allowed: bool | None = None,
                 user: str = HF_TOKEN_USER) -> None:
        if keyring_allowed is None:  # an admin policy can keep tokens out of the keyring
            from fireside.core.admin.policy import load_policy

            keyring_allowed = load_policy().get("allow_keyring_tokens") is not False
        self._allowed = keyring_allowed
        if backend is None:
            import keyring

            backend = keyring.get_keyring()
        self._backend = backend
        self._user = user  # the keyring entry: the Hugging Face token, the local API's key
        self._memory: str | None = None
        self._lock = threading.Lock()

    @property
    def usable(self) -> bool:
        return self._allowed and _backend_usable(self._backend)

    @property
    def backend_name(self) -> str:
        return _describe(self._backend)

    def status(self) -> str:
        if not self._allowed:
            return ("Your organisation's policy does not allow saving tokens in the keyring, so a "
                    "token you enter is kept in memory only, until Fireside quits.")
        if self.usable:
            return f"Tokens are kept in your system keyring ({type(self._backend).__name__})."
        return ("No secure keyring is available on this machine, so a token you enter is kept in "
                "memory only, until Fireside quits.")

    def get(self) -> str | None:
        with self._lock:
            if self._memory is not None:
                return self._memory
        if not self.usable:
            return None
        try:
            return self._backend.get_password(SERVICE, self._user) or None
        except Exception:  # a locked or broken keyring is "no token", not a crash
            return None

    def set(self, token: str) -> str:
        token = token.strip()
        if not token:
            raise ValueError("The token is empty.")
        if self.usable:
            try:
                self._backend.set_password(SERVICE, self._user, token)
                with self._lock:
                    self._memory = None
                return "Saved in your system keyring."
            except Exception:  # never include the exception text: some backends echo the value
                pass
        with self._lock:
            self._memory = token
        if not self._allowed:
            return ("Your organisation's policy does not allow saving tokens, so the token is kept "
                    "in memory only and forgotten when Fireside quits.")
        return ("No secure keyring is available, so the token is kept in memory only and "
                "forgotten when Fireside quits.")

    def clear(self) -> None:
        with self._lock:
            self._memory = None
        if self.usable:
            try:
                self._backend.delete_password(SERVICE, self._user)
            except Exception:  # nothing stored is fine
                pass
