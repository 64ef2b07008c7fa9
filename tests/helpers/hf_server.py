"""A Hugging Face Hub look-alike on 127.0.0.1, so download tests never touch the internet.

Two listeners share one state, like the real Hub and its CDN: the "hub" port answers the model-info
and paths-info APIs and `/{repo}/resolve/{rev}/{file}` (a 302 carrying X-Repo-Commit, X-Linked-Etag
and X-Linked-Size, exactly what huggingface_hub's HEAD reads), and the "cdn" port serves the bytes
with Range support. Because the ports differ, huggingface_hub treats the CDN as another host and
stops at the redirect for metadata, as it does against huggingface.co.

With `tls=` (a server-side SSLContext, e.g. from `tls_certs.py`) both listeners speak HTTPS
and the URLs are https://, so the client's certificate checks run exactly as against the Hub.

Faults are switched on per test through `server.faults` and every byte request is logged with its
Range header, so tests can assert what a resumed download asked for. A test that must act part-way
through a download (pause, cancel, kill the downloading process) holds the body at a byte count
with `faults.hold_at(n)` and lets it go with `faults.release()`: the server sets the pace, so the
test never races a transfer, however loaded the machine.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "a" * 40
HOLD_LIMIT_S = 120.0  # a held response gives up waiting for release() after this (a failed test)


@dataclass
class Faults:
    """What goes wrong, and how often. Counters count down as faults fire."""

    drop_after_bytes: int | None = None  # close the connection after sending this many body bytes
    drops: int = 0  # ...this many times
    stall_after_bytes: int | None = None  # stop sending (keep the socket open) after this many bytes
    stall_seconds: float = 0.0
    stalls: int = 0
    errors_5xx: int = 0  # answer the first K byte requests with 503
    corrupt: bool = False  # flip one byte in the middle of every body served
    bytes_per_second: int | None = None  # throttle, so a subprocess can be killed part-way
    ignore_range: bool = False  # answer 200 with the whole file, like a proxy that drops Range
    hold_after_bytes: int | None = None  # send this many body bytes, then wait for release()
    holds: int = 0  # ...in this many responses
    held: threading.Event = field(default_factory=threading.Event)  # a response is being held
    released: threading.Event = field(default_factory=threading.Event)

    def hold_at(self, n_bytes: int, times: int = 1) -> None:
        """Hold the next `times` bodies after `n_bytes` bytes until release()."""
        self.hold_after_bytes, self.holds = n_bytes, times
        self.held.clear()
        self.released.clear()

    def release(self) -> None:
        self.released.set()


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: bool
    sent: int = 0  # body bytes written to the socket (for "bytes re-sent after resume")


@dataclass
class FakeHub:
    repos: dict[str, dict[str, bytes]]
    token: str | None = None  # when set, every request needs "Authorization: Bearer <token>"
    faults: Faults = field(default_factory=Faults)
    log: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hub_url: str = ""
    cdn_url: str = ""

    _blobs: dict[str, bytes] = field(default_factory=dict)

    def blob(self, sha: str) -> bytes | None:
        if sha not in self._blobs:
            for files in self.repos.values():
                for data in files.values():
                    self._blobs.setdefault(_digests(data)[0], data)
        return self._blobs.get(sha)

    def byte_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path.startswith("/cdn/") and r.method == "GET"]


_DIGESTS: dict[int, tuple[bytes, str, str]] = {}


def _digests(data: bytes) -> tuple[str, str]:
    """(sha256, git-style sha1), computed once per blob: a 1 GB benchmark file is hashed once."""
    hit = _DIGESTS.get(id(data))
    if hit is None or hit[0] is not data:
        hit = (data, hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest())
        _DIGESTS[id(data)] = hit
    return hit[1], hit[2]


def _sibling(name: str, data: bytes) -> dict:
    sha, oid = _digests(data)
    return {"rfilename": name, "size": len(data), "blobId": oid,
            "lfs": {"size": len(data), "sha256": sha, "pointerSize": 134}}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _record(self) -> None:
            self._request = Request(self.command, self.path, self.headers.get("Range"),
                                    bool(self.headers.get("Authorization")))
            with hub.lock:
                hub.log.append(self._request)

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, obj: object, code: int = 200) -> None:
            self._send(code, json.dumps(obj).encode(), {"Content-Type": "application/json"})

        def _authorized(self) -> bool:
            if hub.token is None:
                return True
            if self.headers.get("Authorization") == f"Bearer {hub.token}":
                return True
            self._send(401, b'{"error":"Invalid credentials in Authorization header"}',
                       {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound",
                        "X-Error-Message": "Invalid credentials in Authorization header"})
            return False

        def do_HEAD(self) -> None:
            self._dispatch()

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            self._record()
            path = unquote(urlsplit(self.path).path)
            if path.startswith("/cdn/"):
                return self._cdn(path[len("/cdn/"):])
            if not self._authorized():
                return None
            if path.startswith("/api/models/"):
                return self._api(path[len("/api/models/"):])
            if "/resolve/" in path:
                repo, _, rest = path.lstrip("/").partition("/resolve/")
                _rev, _, filename = rest.partition("/")
                return self._resolve(repo, filename)
            return self._json({"error": "Not found"}, 404)

        def _find_repo(self, rest: str) -> tuple[str, str] | None:
            for repo in hub.repos:
                if rest == repo or rest.startswith(repo + "/"):
                    return repo, rest[len(repo):].lstrip("/")
            return None

        def _api(self, rest: str) -> None:
            found = self._find_repo(rest)
            if found is None:
                self._send(404, b'{"error":"Repository not found"}',
                           {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound"})
                return
            repo, tail = found
            files = hub.repos[repo]
            if tail.startswith("paths-info/"):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                wanted = form.get("paths", [])
                out = []
                for name in wanted:
                    if name in files:
                        s = _sibling(name, files[name])
                        out.append({"type": "file", "path": name, "size": s["size"], "oid": s["blobId"],
                                    "lfs": {"oid": s["lfs"]["sha256"], "size": s["size"],
                                            "pointerSize": 134}})
                self._json(out)
                return
            siblings = [_sibling(n, d) for n, d in sorted(files.items())]
            self._json({"id": repo, "modelId": repo, "sha": COMMIT, "private": hub.token is not None,
                        "gated": False, "tags": ["gguf"], "siblings": siblings})

        def _resolve(self, repo: str, filename: str) -> None:
            data = hub.repos.get(repo, {}).get(filename)
            if data is None:
                self._send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})
                return
            sha, oid = _digests(data)
            self._send(302, b"", {
                "Location": f"{hub.cdn_url}/cdn/{sha}?sig=fake",
                "X-Repo-Commit": COMMIT,
                "X-Linked-Etag": f'"{sha}"',
                "X-Linked-Size": str(len(data)),
                "ETag": f'"{oid}"',
            })

        def _cdn(self, sha: str) -> None:
            data = hub.blob(sha)
            if data is None:
                self._send(404, b"no such blob")
                return
            with hub.lock:
                fail = hub.faults.errors_5xx > 0 and self.command == "GET"
                if fail:
                    hub.faults.errors_5xx -= 1
            if fail:
                self._send(503, b"Service temporarily unavailable")
                return
            start, end = 0, len(data) - 1
            rng = None if hub.faults.ignore_range else self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, _, b = rng[len("bytes="):].partition("-")
                start = int(a)
                end = min(int(b), len(data) - 1) if b else len(data) - 1
                if start >= len(data):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
            body = bytearray(data[start:end + 1])
            if hub.faults.corrupt and body:
                body[len(body) // 2] ^= 0xFF
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{sha}"')
            self.send_header("Accept-Ranges", "bytes")
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            self._stream(bytes(body))

        def _stream(self, body: bytes) -> None:
            f = hub.faults
            with hub.lock:
                drop = f.drop_after_bytes if f.drops > 0 else None
                if drop is not None:
                    f.drops -= 1
                stall = f.stall_after_bytes if f.stalls > 0 else None
                if stall is not None:
                    f.stalls -= 1
                hold = f.hold_after_bytes if f.holds > 0 else None
                if hold is not None:
                    f.holds -= 1
            chunk = 64 * 1024
            if f.bytes_per_second:
                chunk = max(1024, f.bytes_per_second // 20)
            sent = 0
            try:
                while sent < len(body):
                    limit = len(body)
                    if drop is not None:
                        limit = min(limit, drop)
                    if stall is not None:
                        limit = min(limit, stall)
                    if hold is not None:
                        limit = min(limit, hold)
                    if hold is not None and sent >= hold:
                        f.held.set()
                        f.released.wait(HOLD_LIMIT_S)
                        hold = None
                        continue
                    if sent >= limit:
                        if stall is not None and sent >= stall:
                            time.sleep(f.stall_seconds)  # sleep-ok: the fault being simulated
                            stall = None
                            continue
                        self.close_connection = True
                        return
                    n = min(chunk, limit - sent)
                    self.wfile.write(body[sent:sent + n])
                    sent += n
                    self._request.sent = sent
                    if f.bytes_per_second:
                        time.sleep(n / f.bytes_per_second)  # sleep-ok: throttled link
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


class HubServer:
    """Start with `with HubServer(repos) as hub:`; `hub.hub_url` is what HF_ENDPOINT should be."""

    def __init__(self, repos: dict[str, dict[str, bytes]], token: str | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.state = FakeHub(repos=repos, token=token)
        handler = _handler(self.state)
        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
        for s in self._servers:
            s.daemon_threads = True
            s.block_on_close = False
            if tls is not None:  # the handshake runs in accept(); a refused one is dropped quietly
                s.socket = tls.wrap_socket(s.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.state.hub_url = f"{scheme}://127.0.0.1:{self._servers[0].server_address[1]}"
        self.state.cdn_url = f"{scheme}://127.0.0.1:{self._servers[1].server_address[1]}"
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                          daemon=True) for s in self._servers]

    def __enter__(self) -> FakeHub:
        for t in self._threads:
            t.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.state.faults.release()  # a response still held ends now
        for s in self._servers:
            s.shutdown()
            s.server_close()
        for t in self._threads:
            t.join(timeout=5)


def main() -> None:
    """Run standalone (for the CLI tests and by hand): serve files given as REPO=FILE=PATH."""
    import argparse
    import sys
    from pathlib import Path

    p = argparse.ArgumentParser()
    p.add_argument("spec", nargs="+", help="REPO=FILENAME=PATH")
    p.add_argument("--token")
    p.add_argument("--bytes-per-second", type=int)
    args = p.parse_args()
    repos: dict[str, dict[str, bytes]] = {}
    for spec in args.spec:
        repo, name, path = spec.split("=", 2)
        repos.setdefault(repo, {})[name] = Path(path).read_bytes()
    server = HubServer(repos, token=args.token)
    with server as hub:
        hub.faults.bytes_per_second = args.bytes_per_second
        print(hub.hub_url, flush=True)
        try:
            sys.stdin.read()  # serve until the parent closes our stdin
        finally:
            for r in hub.byte_requests():
                print(json.dumps({"range": r.range}), flush=True)


if __name__ == "__main__":
    main()
