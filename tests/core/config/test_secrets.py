"""The HF token goes to a real keyring or stays in memory; plaintext and fail backends are refused."""

from __future__ import annotations

import keyring.backend
from keyring.backends import chainer, fail

from fireside.core.config.secrets import HF_TOKEN_USER, SERVICE, TokenStore


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class PlaintextKeyring(MemoryKeyring):
    """Stands in for keyrings.alt.file.PlaintextKeyring."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


def test_real_keyring_stores_and_returns_the_token():
    backend = MemoryKeyring()
    store = TokenStore(backend)
    assert store.usable and store.get() is None
    assert "keyring" in store.set(" hf_abc ")
    assert backend.store[(SERVICE, HF_TOKEN_USER)] == "hf_abc"
    assert TokenStore(backend).get() == "hf_abc"  # a new run finds it
    store.clear()
    assert TokenStore(backend).get() is None


def test_fail_backend_keeps_token_in_memory_only():
    store = TokenStore(fail.Keyring())
    assert not store.usable and "memory only" in store.status()
    assert "memory only" in store.set("hf_xyz")
    assert store.get() == "hf_xyz"
    assert TokenStore(fail.Keyring()).get() is None  # forgotten by the next run


def test_plaintext_backend_is_never_used():
    backend = PlaintextKeyring()
    store = TokenStore(backend)
    assert not store.usable
    store.set("hf_plain")
    assert backend.store == {} and store.get() == "hf_plain"


def test_chainer_is_usable_only_with_a_real_child():
    class OnlyPlain(chainer.ChainerBackend):
        backends = [PlaintextKeyring()]  # type: ignore[assignment]  # noqa: RUF012

    class WithReal(chainer.ChainerBackend):
        backends = [PlaintextKeyring(), MemoryKeyring()]  # type: ignore[assignment]  # noqa: RUF012

    assert not TokenStore(OnlyPlain()).usable
    assert TokenStore(WithReal()).usable


def test_broken_keyring_falls_back_without_leaking_the_token():
    class Broken(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise RuntimeError(f"could not store {password}")

    store = TokenStore(Broken())
    message = store.set("hf_secret")
    assert "hf_secret" not in message and store.get() == "hf_secret"
