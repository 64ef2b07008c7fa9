"""One Fireside window per data folder: a second launch hands its model to the first and exits.

Two windows on one FIRESIDE_HOME would each load their own model (llama.cpp repacks the 20b model
into about 10 GB of private memory per process) and overwrite each other's settings. So, the way
desktop apps do it:

- Ownership is a lock file in the data folder (`QLockFile`, which detects a lock left by a
  crashed process by its PID). Whoever holds it is *the* window for that folder.
- Messages go over a local socket (`QLocalServer`: a Unix socket, a named pipe on Windows),
  named after a hash of the data folder's path and readable only by this user. The owner first
  removes a socket file a crash may have left, then listens.
- A second launch that cannot take the lock connects, sends one JSON line (`{"model": PATH}`,
  the path already absolute, since the two processes' working folders differ), waits for the
  owner's "ok", and exits 0. If the owner is just starting, it keeps trying for a few seconds.

The command line (`fireside chat`, `models`, `serve`…) never takes the lock: it works beside a
running window, and SQLite keeps the shared history consistent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_NAME = "window.lock"
HANDOFF_TIMEOUT_S = 5.0
_WAIT_MS = 500
_MAX_MESSAGE = 64 * 1024


def server_name(data_dir: Path) -> str:
    """Short (Unix socket paths are limited to ~100 bytes) and the same for every launch."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"fireside-{digest}"


class InstanceServer(QObject):
    """The first window's side: owns the lock, listens, emits `modelRequested` / `raiseRequested`."""

    raiseRequested = Signal()
    modelRequested = Signal(str)

    def __init__(self, lock: QLockFile, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = lock
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        QLocalServer.removeServer(self.name)  # a socket file left by a crash; we hold the lock
        if not self._server.listen(self.name):
            log.warning("Cannot listen on %s (%s): later launches will open their own window.",
                        self.name, self._server.errorString())
            return False
        log.info("Window open; later launches with this data folder hand over to it (%s).",
                 self.name)
        return True

    def close(self) -> None:
        self._server.close()
        self._lock.unlock()

    def _accept(self) -> None:
        while (sock := self._server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            if sock.bytesAvailable() > _MAX_MESSAGE:
                sock.abort()
            return
        raw = bytes(sock.readLine(_MAX_MESSAGE).data())
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.warning("Ignored a malformed message from another launch.")
            sock.abort()
            return
        model = message.get("model")
        log.info("Another launch handed over: model=%s", model)
        sock.write(b"ok\n")
        sock.flush()
        sock.disconnectFromServer()
        self.raiseRequested.emit()
        if isinstance(model, str) and model:
            self.modelRequested.emit(model)


def _hand_over(name: str, message: dict[str, str | None], deadline: float) -> bool:
    payload = json.dumps(message).encode("utf-8") + b"\n"
    while time.monotonic() < deadline:
        sock = QLocalSocket()
        sock.connectToServer(name)
        if sock.waitForConnected(_WAIT_MS):
            sock.write(payload)
            sock.waitForBytesWritten(_WAIT_MS)
            while not sock.canReadLine() and sock.waitForReadyRead(_WAIT_MS):
                pass
            answered = sock.canReadLine() and bytes(sock.readLine().data()).strip() == b"ok"
            sock.abort()
            if answered:
                return True
        else:
            sock.abort()
            time.sleep(0.05)  # sleep-ok: the first window is still starting its server
    return False


def claim_or_hand_over(data_dir: Path, model_path: str | None,
                       timeout_s: float = HANDOFF_TIMEOUT_S) -> InstanceServer | bool:
    """The listening server when this launch is the first for `data_dir`; True when another
    window took the hand-over (exit now); False when that window did not answer in time."""
    data_dir.mkdir(parents=True, exist_ok=True)
    name = server_name(data_dir)
    lock = QLockFile(str(data_dir / LOCK_NAME))
    lock.setStaleLockTime(0)  # never stale by age (a window runs for days); a dead PID still is
    deadline = time.monotonic() + timeout_s
    while True:
        if lock.tryLock(0):
            server = InstanceServer(lock, name)
            server.listen()
            return server
        if _hand_over(name, {"model": model_path}, min(deadline, time.monotonic() + 1.0)):
            return True
        if time.monotonic() >= deadline:
            return False
        # The owner may have quit between our lock attempt and the connection: try again.
