"""Resumable, verified model downloads that survive flaky links and restarts.

Bytes go to `<models>/.partial/<name>.part` beside a JSON sidecar (URL, commit, size, SHA-256,
etag; never a token). A new process that finds both asks only for the missing range; it re-hashes
the part already on disk first, because a SHA-256 state cannot be saved portably and a re-read is
also the only way to trust bytes a crash may have half-written. Connection drops, 5xx answers and
stalls (no byte for `stall_timeout` seconds) retry with exponential backoff; the retry budget
resets whenever an attempt made progress, so a long download on a bad link keeps going.

The transfer is plain http.client: TLS trusts what core/net/tls.py says (the OS store, or the CA
bundle in SSL_CERT_FILE), the same source the Hub client uses, with verification always on; a
refused certificate fails at once with the reason (no retries: it will not fix itself), and the
Authorization header is dropped when a redirect leaves the Hub's host (the CDN must not see it).
A reader thread feeds a queue so the loop can report progress (speed falls to 0 in a stall),
honour pause/cancel and detect stalls while the socket is blocked.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import shutil
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from fireside.core.models.hub import RemoteFile
from fireside.core.net.tls import TrustStoreError, describe_failure, ssl_context
from fireside.core.units import human_bytes

CHUNK = 1 << 20
DISK_MARGIN = 64 * 1024 * 1024
SPEED_WINDOW_S = 3.0
TICK_S = 0.2
STALL_NOTICE_S = 2.0
MAX_REDIRECTS = 5


class DownloadError(Exception):
    """`kind`: auth, not_found, disk, verify, network, tls, paused, cancelled. The message is for people."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Transient(Exception):
    """Worth another try: dropped connection, 5xx, stall."""


@dataclass(frozen=True)
class Progress:
    phase: str  # checking, downloading, retrying, verifying, done
    done: int
    total: int
    speed: float  # bytes per second over the last few seconds; 0 while stalled
    eta_s: float | None
    message: str = ""
    stalled: bool = False  # no byte for STALL_NOTICE_S: say so, do not show a stale speed


def partial_paths(models_dir: Path, remote: RemoteFile) -> tuple[Path, Path]:
    stem = f"{remote.repo_id}/{remote.filename}".replace("/", "--")
    base = models_dir / ".partial"
    return base / f"{stem}.part", base / f"{stem}.json"


def destination(models_dir: Path, remote: RemoteFile) -> Path:
    """`<models>/<owner>/<repo>/<file>`: two repos may publish the same file name."""
    return models_dir.joinpath(*remote.repo_id.split("/"), *remote.filename.split("/"))


class _Speed:
    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> float:
        self.samples.append((now, total))
        while self.samples and now - self.samples[0][0] > SPEED_WINDOW_S:
            self.samples.popleft()
        first_t, first_n = self.samples[0]
        return (total - first_n) / (now - first_t) if now - first_t >= 0.5 else 0.0


class Downloader:
    """One download at a time; call `download()` on a worker thread, set `pause`/`cancel` from any."""

    def __init__(self, models_dir: Path, *, token: str | None = None, stall_timeout: float = 30.0,
                 max_retries: int = 6, backoff_base: float = 1.0, backoff_max: float = 60.0,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.models_dir = models_dir
        self._token = token
        self.stall_timeout = stall_timeout
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self.on_progress = on_progress or (lambda p: None)
        self.stall_notice = STALL_NOTICE_S
        self.pause = threading.Event()
        self.cancel = threading.Event()
        self._hasher = hashlib.sha256()
        self._have = 0
        self._tls: ssl.SSLContext | None = None

    # -- public -------------------------------------------------------------------------------
    def download(self, remote: RemoteFile) -> Path:
        from fireside.core.admin.policy import load_policy

        policy = load_policy()
        if refusal := (policy.download_refusal() or policy.model_refusal(remote.repo_id,
                                                                         remote.filename)):
            raise DownloadError(refusal, "policy")
        dest = destination(self.models_dir, remote)
        part, meta = partial_paths(self.models_dir, remote)
        part.parent.mkdir(parents=True, exist_ok=True)
        self._hasher, have = self._resume_state(remote, part, meta)
        self._have = have
        self._check_disk(remote, have)
        meta.write_text(json.dumps({"repo_id": remote.repo_id, "filename": remote.filename,
                                    "revision": remote.revision, "url": remote.url,
                                    "sha256": remote.sha256, "size": remote.size,
                                    "etag": remote.sha256}), encoding="utf-8")
        failures = 0
        while have < remote.size:
            self._check_stop(part, meta)
            before = have
            try:
                have = self._attempt(remote, part, have)
            except _Transient as e:
                have = self._have  # bytes written and hashed before the failure count
                failures = 0 if have > before else failures + 1
                if failures > self.max_retries:
                    raise DownloadError(f"{e} Gave up after {self.max_retries} retries; your "
                                        "progress is kept, so you can resume later.", "network") from None
                delay = min(self.backoff_max, self.backoff_base * 2 ** max(failures - 1, 0))
                self.on_progress(Progress("retrying", have, remote.size, 0.0, None,
                                          f"{e} Retrying in {delay:.0f} s."))
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and not (self.pause.is_set() or self.cancel.is_set()):
                    self.cancel.wait(min(TICK_S, max(0.0, deadline - time.monotonic())))
        return self._finish(remote, part, meta, dest)

    # -- steps --------------------------------------------------------------------------------
    def _resume_state(self, remote: RemoteFile, part: Path, meta: Path) -> tuple[hashlib._Hash, int]:
        hasher = hashlib.sha256()
        try:
            old = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        same = (isinstance(old, dict) and old.get("sha256") == remote.sha256
                and old.get("size") == remote.size and old.get("revision") == remote.revision)
        if not part.exists() or not same or part.stat().st_size > remote.size:
            part.unlink(missing_ok=True)
            part.touch()
            return hasher, 0
        have = part.stat().st_size
        done = 0
        with part.open("rb") as fh:
            while chunk := fh.read(CHUNK * 8):
                hasher.update(chunk)
                done += len(chunk)
                self.on_progress(Progress("checking", done, remote.size, 0.0, None,
                                          "Checking the part downloaded earlier…"))
        return hasher, have

    def _check_disk(self, remote: RemoteFile, have: int) -> None:
        need = remote.size - have
        probe = self.models_dir
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < need + DISK_MARGIN:
            raise DownloadError(
                f"{Path(remote.filename).name} needs {human_bytes(need)} more, but only "
                f"{human_bytes(free)} is free on the drive that holds {self.models_dir}. "
                f"Free up {human_bytes(need + DISK_MARGIN - free)} or choose another models folder.",
                "disk")

    def _check_stop(self, part: Path, meta: Path) -> None:
        if self.cancel.is_set():
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise DownloadError("Download cancelled; the partial file was deleted.", "cancelled")
        if self.pause.is_set():
            raise DownloadError("Download paused; it will continue from here.", "paused")

    def _finish(self, remote: RemoteFile, part: Path, meta: Path, dest: Path) -> Path:
        self.on_progress(Progress("verifying", remote.size, remote.size, 0.0, None,
                                  "Checking the file against the Hub's SHA-256…"))
        digest = self._hasher.hexdigest()
        if remote.sha256 and digest != remote.sha256:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise DownloadError(
                f"The downloaded {Path(remote.filename).name} is damaged: its SHA-256 does not "
                "match the one the Hub publishes. The bad download was deleted (nothing else "
                "was touched). Try again.", "verify")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        meta.unlink(missing_ok=True)
        done = ("Downloaded and verified." if remote.sha256 else
                "Downloaded. The Hub publishes no checksum for this file, so it was not verified.")
        self.on_progress(Progress("done", remote.size, remote.size, 0.0, 0.0, done))
        return dest

    # -- one HTTP attempt ---------------------------------------------------------------------
    def _open(self, url: str, have: int, size: int) -> tuple[http.client.HTTPConnection,
                                                            http.client.HTTPResponse]:
        auth_origin = urlsplit(url)[:2]
        for _ in range(MAX_REDIRECTS):
            parts = urlsplit(url)
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    parts.netloc, timeout=self.stall_timeout + 2, context=self._tls_context())
            elif parts.scheme == "http":
                conn = http.client.HTTPConnection(parts.netloc, timeout=self.stall_timeout + 2)
            else:
                raise DownloadError("The Hub sent the download somewhere Fireside will not follow.",
                                    "network")
            headers = {"Range": f"bytes={have}-", "Accept-Encoding": "identity",
                       "User-Agent": "Fireside"}
            if self._token and parts[:2] == auth_origin:
                headers["Authorization"] = f"Bearer {self._token}"
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
            except ssl.SSLCertVerificationError as e:
                conn.close()
                raise DownloadError(describe_failure(e, parts.netloc), "tls") from None
            except (OSError, http.client.HTTPException):
                conn.close()
                raise _Transient("The connection failed.") from None
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location") or "")
                resp.read()
                conn.close()
                continue
            return conn, resp
        raise DownloadError("The Hub redirected too many times.", "network")

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = ssl_context()
            except TrustStoreError as e:
                raise DownloadError(str(e), "tls") from None
        return self._tls

    def _attempt(self, remote: RemoteFile, part: Path, have: int) -> int:
        conn, resp = self._open(remote.url, have, remote.size)
        try:
            status = resp.status
            if status == 416 and have == remote.size:
                return have
            if status in (401, 403):
                raise DownloadError(f"{remote.repo_id} needs a valid Hugging Face token to "
                                    "download this file.", "auth")
            if status == 404:
                raise DownloadError(f"{remote.filename} is no longer on the Hub.", "not_found")
            if status >= 500 or status == 429:
                raise _Transient(f"The server is having trouble (HTTP {status}).")
            if status == 200 and have:
                have = self._have = 0  # the server ignored our Range: start over, correctly
                self._hasher = hashlib.sha256()
                part.write_bytes(b"")
            elif status == 206:
                start = (resp.getheader("Content-Range") or "").removeprefix("bytes ").split("-")[0]
                if start != str(have):
                    raise _Transient("The server sent the wrong part of the file.")
            elif status != 200:
                raise _Transient(f"Unexpected answer from the server (HTTP {status}).")
            return self._pump(conn, resp, remote, part, have)
        finally:
            resp.close()
            conn.close()

    def _pump(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
              remote: RemoteFile, part: Path, have: int) -> int:
        q: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=8)
        stop = threading.Event()

        def reader() -> None:
            try:
                while not stop.is_set():
                    data = resp.read1(CHUNK)
                    item = ("data", data) if data else ("eof", b"")
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=TICK_S)
                            break
                        except queue.Full:
                            continue
                    if not data:
                        return
            except (OSError, http.client.HTTPException, ValueError):
                try:
                    q.put_nowait(("error", b""))
                except queue.Full:
                    pass

        thread = threading.Thread(target=reader, name="fireside-download-reader", daemon=True)
        thread.start()
        speed, last_byte, last_emit = _Speed(), time.monotonic(), 0.0
        try:
            with part.open("r+b") as fh:
                fh.seek(have)
                while have < remote.size:
                    try:
                        kind, data = q.get(timeout=TICK_S)
                    except queue.Empty:
                        kind, data = "tick", b""
                    now = time.monotonic()
                    if kind == "data":
                        data = data[: remote.size - have]
                        fh.write(data)
                        self._hasher.update(data)
                        have += len(data)
                        self._have = have
                        last_byte = now
                    elif kind in ("eof", "error"):
                        raise _Transient("The connection dropped.")
                    if self.pause.is_set() or self.cancel.is_set():
                        return have
                    if now - last_byte > self.stall_timeout:
                        raise _Transient(f"The download stalled (no data for "
                                         f"{self.stall_timeout:.0f} s).")
                    if now - last_emit >= TICK_S or have == remote.size:
                        stalled = now - last_byte >= self.stall_notice
                        rate = 0.0 if stalled else speed.add(now, have)
                        eta = (remote.size - have) / rate if rate > 0 else None
                        self.on_progress(Progress("downloading", have, remote.size, rate, eta,
                                                  stalled=stalled))
                        last_emit = now
            return have
        finally:
            stop.set()
            try:
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
            except OSError:
                pass
            thread.join(timeout=self.stall_timeout + 5)
