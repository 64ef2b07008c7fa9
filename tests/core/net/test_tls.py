"""HTTPS for real: the local Hub look-alike behind a certificate from a CA the test makes.

Downloads succeed when that CA is trusted (SSL_CERT_FILE, the documented way to add an
organisation's CA) and are refused at once, with a sentence naming the reason, when the
certificate is signed by an unknown CA, has expired, or names another host. Both halves of a
download go through the check: the Hub API (huggingface_hub's client, which Fireside builds on
its own SSL context) and the byte transfer (http.client on the same context).
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireside.core.models.downloads import Downloader, DownloadError
from fireside.core.models.hub import HubError, RemoteFile, remote_file
from fireside.core.net import tls
from tests.helpers.hf_server import COMMIT, FakeHub, HubServer
from tests.helpers.tls_certs import Pki, make_pki, system_env, trusted_env

REPO, FILE = "ggml-org/gpt-oss-20b-GGUF", "gpt-oss-20b-mxfp4.gguf"
DATA = os.urandom(1_500_000)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _serve(pki: Pki, kind: str) -> HubServer:
    return HubServer({REPO: {FILE: DATA}}, tls=pki.server_context(kind))


@pytest.fixture
def trusting(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine trusts the test CA (and nothing else)."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))


@pytest.fixture
def system_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """No custom CA: the OS store, which does not hold the test CA."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


def _remote(hub: FakeHub) -> RemoteFile:
    """The file as the Hub would describe it, without asking the Hub (to test the transfer alone)."""
    return RemoteFile(REPO, FILE, COMMIT, len(DATA), hashlib.sha256(DATA).hexdigest(), hub.hub_url)


def _refused_download(hub: FakeHub, home: Path) -> DownloadError:
    dl = Downloader(home / "models", backoff_base=0.05, stall_timeout=5.0)
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        dl.download(_remote(hub))
    assert time.monotonic() - start < 5, "a refused certificate must not be retried"
    assert err.value.kind == "tls"
    assert hub.byte_requests() == []  # not a byte was asked for over the refused connection
    assert not (home / "models" / "ggml-org").exists()
    return err.value


def test_https_download_succeeds_when_the_ca_is_trusted(pki: Pki, trusting: None, fireside_home: Path):
    with _serve(pki, "good") as hub:
        assert hub.hub_url.startswith("https://127.0.0.1:")
        remote = remote_file(REPO, FILE, endpoint=hub.hub_url)  # huggingface_hub over HTTPS
        assert remote.sha256 == hashlib.sha256(DATA).hexdigest()
        path = Downloader(fireside_home / "models").download(remote)  # redirect to the https CDN
        assert path.read_bytes() == DATA
        assert [r.range for r in hub.byte_requests()] == ["bytes=0-"]


def test_untrusted_ca_is_refused_with_a_clear_message(pki: Pki, system_store: None, fireside_home: Path):
    with _serve(pki, "good") as hub:
        with pytest.raises(HubError) as err:
            remote_file(REPO, FILE, endpoint=hub.hub_url)
        assert err.value.kind == "tls"
        host = hub.hub_url.removeprefix("https://")
        assert str(err.value).startswith(f"Fireside refused the connection to {host}: its certificate "
                                         "is not signed by an authority this computer trusts.")
        assert "SSL_CERT_FILE" in str(err.value)
        message = str(_refused_download(hub, fireside_home))
        assert "not signed by an authority this computer trusts" in message


def test_a_ca_other_than_the_trusted_one_is_refused(pki: Pki, trusting: None, fireside_home: Path):
    with _serve(pki, "untrusted") as hub:
        with pytest.raises(HubError, match="not signed by an authority this computer trusts"):
            remote_file(REPO, FILE, endpoint=hub.hub_url)
        assert "not signed by an authority" in str(_refused_download(hub, fireside_home))


def test_expired_certificate_is_refused(pki: Pki, trusting: None, fireside_home: Path):
    with _serve(pki, "expired") as hub:
        with pytest.raises(HubError, match="its certificate has expired") as err:
            remote_file(REPO, FILE, endpoint=hub.hub_url)
        assert err.value.kind == "tls"
        assert "has expired (or this computer's clock is wrong)" in str(_refused_download(hub, fireside_home))


def test_certificate_for_another_host_is_refused(pki: Pki, trusting: None, fireside_home: Path):
    with _serve(pki, "other_host") as hub:
        with pytest.raises(HubError, match="belongs to another server") as err:
            remote_file(REPO, FILE, endpoint=hub.hub_url)
        assert err.value.kind == "tls"
        assert "belongs to another server" in str(_refused_download(hub, fireside_home))


def test_the_hub_client_follows_a_change_of_trust_in_one_process(pki: Pki, fireside_home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    """huggingface_hub keeps one shared client; it must not keep trusting what we no longer do."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _serve(pki, "good") as hub:
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
        assert remote_file(REPO, FILE, endpoint=hub.hub_url).size == len(DATA)
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(HubError, match="not signed by an authority"):
            remote_file(REPO, FILE, endpoint=hub.hub_url)


def test_the_context_always_verifies_and_finds_the_system_store(system_store: None):
    ctx = tls.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    source = tls.trust_source()
    assert source.kind == "system"
    if sys.platform.startswith("linux"):
        assert source.cafile or source.capath, source
        assert ctx.cert_store_stats()["x509_ca"] > 50 or source.capath  # a real distribution bundle
        assert "system's certificate store" in source.describe()


def test_an_unreadable_custom_bundle_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              fireside_home: Path):
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    missing = tmp_path / "corp-ca.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(tls.TrustStoreError, match=r"corp-ca.pem \(SSL_CERT_FILE\).*Fix or unset"):
        tls.ssl_context()
    with pytest.raises(HubError, match="SSL_CERT_FILE") as err:
        remote_file(REPO, FILE, endpoint="https://127.0.0.1:9")
    assert err.value.kind == "tls"


@pytest.fixture
def cli_hub(pki: Pki, tiny_gptoss_path: Path) -> Iterator[FakeHub]:
    with HubServer({REPO: {FILE: tiny_gptoss_path.read_bytes()}}, tls=pki.server_context("good")) as hub:
        yield hub


def _pull(hub: FakeHub, home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**env, "FIRESIDE_HOME": str(home), "HF_ENDPOINT": hub.hub_url,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    cli = "import sys; from fireside.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", cli, "models", "pull", REPO, FILE],
                          capture_output=True, text=True, timeout=120, env=env)


def test_models_pull_over_https_from_the_command_line(pki: Pki, cli_hub: FakeHub, fireside_home: Path,
                                                     tiny_gptoss_path: Path):
    refused = _pull(cli_hub, fireside_home, system_env())
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "not signed by an authority this computer trusts" in lines[0], lines
    assert "Traceback" not in refused.stderr

    ok = _pull(cli_hub, fireside_home, trusted_env(pki))
    assert ok.returncode == 0, ok.stderr
    got = fireside_home / "models" / REPO / FILE
    assert got.read_bytes() == tiny_gptoss_path.read_bytes()
