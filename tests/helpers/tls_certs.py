"""Certificates for HTTPS tests: a CA made per test session (trustme) and server contexts that are
right, expired, for another host, or signed by a CA nobody trusts.

`trusted_env()` is what a machine that trusts the test CA looks like to Fireside (SSL_CERT_FILE
pointing at it, the documented way to add an organisation's CA); `system_env()` is a machine
that does not (the variables removed, so the OS store, which never holds the test CA, is used).
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Pki:
    ca_file: Path  # PEM of the CA the "good" certificates chain to
    _ca: trustme.CA

    def server_context(self, kind: str = "good") -> ssl.SSLContext:
        """kind: good, expired, other_host (valid, for example.org only), untrusted (another CA)."""
        now = dt.datetime.now(dt.UTC)
        if kind == "good":
            cert = self._ca.issue_cert(*HOSTS)
        elif kind == "expired":
            cert = self._ca.issue_cert(*HOSTS, not_before=now - dt.timedelta(days=30),
                                       not_after=now - dt.timedelta(days=1))
        elif kind == "other_host":
            cert = self._ca.issue_cert("example.org")
        elif kind == "untrusted":
            cert = trustme.CA().issue_cert(*HOSTS)
        else:
            raise ValueError(kind)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx


def make_pki(folder: Path) -> Pki:
    ca = trustme.CA(organization_name="Fireside test CA")
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / "fireside-test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca_file, ca)


def trusted_env(pki: Pki, base: dict[str, str] | None = None) -> dict[str, str]:
    env = system_env(base)
    env["SSL_CERT_FILE"] = str(pki.ca_file)
    return env


def system_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    return env
