"""The HF token goes to a real keyring (gnome-keyring over D-Bus, as on a Linux desktop) or stays in
memory; plaintext and fail backends are refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import keyring.backend
import pytest
import secretstorage
from keyring.backends import SecretService, chainer, fail

from fireside.core.config.secrets import HF_TOKEN_USER, SERVICE, TokenStore
from tests.helpers.secret_service import missing_tools, secret_service


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


@pytest.fixture
def secret_service_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real Secret Service (gnome-keyring on a private D-Bus session bus) for this test."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"The keyring test needs {' and '.join(missing)}: scripts/system-deps.sh --test "
                    "installs them (Debian packages dbus-daemon, gnome-keyring).")
    with secret_service(tmp_path / "secret-service") as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


def _stored_secrets(address: str) -> list[bytes]:
    """What the Secret Service itself holds for Fireside's token, asked without keyring."""
    with closing(secretstorage.dbus_init()) as conn:
        return [item.get_secret() for item in secretstorage.search_items(
            conn, {"service": SERVICE, "username": HF_TOKEN_USER})]


def test_real_keyring_stores_and_returns_the_token(secret_service_bus: str):
    store = TokenStore(SecretService.Keyring())  # what keyring picks on a Linux desktop
    assert store.usable and store.get() is None
    assert "SecretService" in store.backend_name
    assert "keyring" in store.set(" hf_abc ")
    assert _stored_secrets(secret_service_bus) == [b"hf_abc"]  # in gnome-keyring, through D-Bus
    assert TokenStore(SecretService.Keyring()).get() == "hf_abc"  # a new run finds it
    store.clear()
    assert _stored_secrets(secret_service_bus) == []
    assert TokenStore(SecretService.Keyring()).get() is None


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
