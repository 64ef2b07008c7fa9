"""One trust source for every HTTPS request Fireside makes: the model transfer and the Hub client.

Which certificates Fireside trusts, in order:
1. `SSL_CERT_FILE` and/or `SSL_CERT_DIR`, when set: exactly those CA certificates (a PEM bundle,
   an OpenSSL hashed directory), nothing else. This is how an organisation whose proxy inspects
   HTTPS points Fireside at its own CA when that CA is not in the operating system's store; the
   same variables curl, OpenSSL and huggingface_hub honour, so every tool agrees.
2. Otherwise the operating system's store: Windows' and macOS' own verifiers through `truststore`
   (so a CA an admin deployed by group policy or MDM just works), and on Linux and other Unix the
   distribution's bundle (OpenSSL's compiled-in location when it holds certificates, else the
   first of the well-known paths Debian, Fedora, RHEL, SUSE, Arch and Alpine use). A frozen
   bundle's OpenSSL was compiled on another machine; the fallback finds the store anyway.

Verification is never turned off: every context requires a valid chain and the right host name.
`describe_failure` turns a refused certificate into one sentence a person can act on.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
from dataclasses import dataclass

CA_FILE_ENV, CA_DIR_ENV = "SSL_CERT_FILE", "SSL_CERT_DIR"

# Where distributions keep their CA bundle (the list truststore and certifi-system-store use).
CA_FILE_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL
    "/etc/pki/tls/cert.pem",  # older Fedora, RHEL, CentOS
    "/etc/ssl/cert.pem",  # Alpine, Arch, BSD
    "/etc/ssl/ca-bundle.pem",  # SUSE
)
_HASHED = re.compile(r"^[0-9a-fA-F]{8}\.\d+$")
_HELP = ("If your organisation inspects HTTPS traffic, put its CA certificate in this computer's "
         "certificate store, or point SSL_CERT_FILE at it (docs/ADMIN.md).")


class TrustStoreError(Exception):
    """The configured CA bundle cannot be read; the message names the variable and the path."""


@dataclass(frozen=True)
class TrustSource:
    """Where Fireside's trusted CA certificates come from, for `fireside doctor` and messages."""

    kind: str  # "custom" (SSL_CERT_FILE / SSL_CERT_DIR) or "system"
    cafile: str | None = None
    capath: str | None = None

    def describe(self) -> str:
        where = ", ".join(p for p in (self.cafile, self.capath) if p)
        if self.kind == "custom":
            return f"custom CA certificates from {CA_FILE_ENV}/{CA_DIR_ENV} ({where})"
        if where:
            return f"the system's certificate store ({where})"
        if sys.platform in ("win32", "darwin"):
            return "the system's certificate store"
        return "none found: no system CA bundle on this computer"


def _has_certs(capath: str) -> bool:
    try:
        return any(_HASHED.match(name) for name in os.listdir(capath))
    except OSError:
        return False


def trust_source() -> TrustSource:
    cafile, capath = os.environ.get(CA_FILE_ENV) or None, os.environ.get(CA_DIR_ENV) or None
    if cafile or capath:
        return TrustSource("custom", cafile, capath)
    if sys.platform in ("win32", "darwin"):
        return TrustSource("system")
    # OpenSSL's compiled-in paths (not set_default_verify_paths(), which would read the env again).
    paths = ssl.get_default_verify_paths()
    sys_file = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    sys_dir = paths.openssl_capath if _has_certs(paths.openssl_capath) else None
    if sys_file or sys_dir:
        return TrustSource("system", sys_file, None if sys_file else sys_dir)
    found = next((c for c in CA_FILE_CANDIDATES if os.path.isfile(c)), None)
    return TrustSource("system", found, None)


def ssl_context() -> ssl.SSLContext:
    """A client context that verifies chain and host name against `trust_source()`."""
    source = trust_source()
    if source.kind == "system" and sys.platform in ("win32", "darwin"):
        import truststore

        ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        # On Linux, a plain OpenSSL context on the distribution's bundle: truststore would do the
        # same there, but re-adds the paths on every handshake (sethmlarson/truststore#212).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if source.cafile or source.capath:
            try:
                ctx.load_verify_locations(source.cafile, source.capath)
            except (OSError, ssl.SSLError) as e:
                var = CA_FILE_ENV if source.cafile else CA_DIR_ENV
                raise TrustStoreError(
                    f"Cannot read the CA certificates at {source.cafile or source.capath} "
                    f"({var}): {getattr(e, 'strerror', None) or e}. Fix or unset {var}.") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname  # never turned off
    return ctx


def find_cert_error(e: BaseException | None) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind `e` (httpx and http.client wrap it), if there is one."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        seen.add(id(e))
        nested = next((a for a in getattr(e, "args", ()) if isinstance(a, BaseException)), None)
        e = e.__cause__ or e.__context__ or nested
    return None


# OpenSSL's X509_V_ERR_* codes (truststore raises the same class on Windows and macOS).
_EXPIRED, _NOT_YET_VALID = 10, 9
_HOST_MISMATCH, _IP_MISMATCH = 62, 64
_UNTRUSTED = {2, 18, 19, 20, 21, 27}


def describe_failure(e: ssl.SSLCertVerificationError, host: str) -> str:
    """One sentence: why `host`'s certificate was refused and what to do about it."""
    code = getattr(e, "verify_code", None)
    detail = str(getattr(e, "verify_message", "") or e.reason or e).lower()
    start = f"Fireside refused the connection to {host}: its certificate"
    if code == _EXPIRED or "expired" in detail:
        return (f"{start} has expired (or this computer's clock is wrong). Check the date and "
                "time, or tell whoever runs that server.")
    if code == _NOT_YET_VALID or "not yet valid" in detail:
        return f"{start} is not valid yet. Check this computer's date and time."
    if code in (_HOST_MISMATCH, _IP_MISMATCH) or "mismatch" in detail or "doesn't match" in detail:
        return (f"{start} belongs to another server, so the connection may not be the one it "
                "claims to be. Check the address (HF_ENDPOINT or your organisation's mirror).")
    if code in _UNTRUSTED or "issuer" in detail or "self" in detail or "untrusted" in detail:
        return f"{start} is not signed by an authority this computer trusts. {_HELP}"
    return f"{start} could not be verified ({detail or 'unknown reason'}). {_HELP}"
