"""Runs Hub look-ups and downloads on their own QThread and reports only through signals.

Like the inference worker, requests arrive as queued `…Requested` signals and results leave as
plain-data signals. Pause and cancel do not go through the event queue (the thread is busy inside
the transfer loop); they set the downloader's threading.Events directly from the GUI thread.
Failures are payloads: (message for a person, kind), where kind lets the dialog offer the right
next step (a token prompt for "auth", a retry for "verify" and "network").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from fireside.core.admin.model_access import adapter_refusal
from fireside.core.admin.policy import load_policy
from fireside.core.config.paths import Paths
from fireside.core.models.adapters import AdapterError, adopt_download
from fireside.core.models.downloads import Downloader, DownloadError, Progress
from fireside.core.models.hub import HubError, RemoteFile, list_gguf_files, remote_file
from fireside.core.models.installed import already_installed, record_download


class DownloadWorker(QObject):
    downloadRequested = Signal(str, str, str, str)  # repo_id, filename, endpoint, token ("": none)
    filesRequested = Signal(str, str, str)  # repo_id, endpoint, token
    adapterDownloadRequested = Signal(str, str, str, str)  # the same, for a LoRA adapter

    filesListed = Signal(str, list)  # repo_id, [(filename, size)]

    progressed = Signal(object)  # Progress
    finished = Signal(str)  # path of the verified file
    adapterFinished = Signal(str, str)  # path of the installed adapter, its summary
    failed = Signal(str, str)  # message, kind

    def __init__(self, paths: Paths) -> None:
        super().__init__()
        self._paths = paths
        self._lock = threading.Lock()
        self._current: Downloader | None = None
        self.downloadRequested.connect(self._download)
        self.filesRequested.connect(self._list_files)
        self.adapterDownloadRequested.connect(self._download_adapter)

    def pause(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.pause.set()

    def cancel(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.cancel.set()

    @Slot(str, str, str)
    def _list_files(self, repo_id: str, endpoint: str, token: str) -> None:
        try:
            files = list_gguf_files(repo_id, endpoint=endpoint or None, token=token or None)
        except HubError as e:
            self.failed.emit(str(e), e.kind)
            return
        self.filesListed.emit(repo_id, [(f.filename, f.size) for f in files])

    def _remote(self, repo_id: str, filename: str, endpoint: str, token: str) -> RemoteFile | None:
        """The file as the Hub describes it; None when the look-up failed (said through `failed`)."""
        try:
            return remote_file(repo_id, filename, endpoint=endpoint or None, token=token or None)
        except HubError as e:
            self.failed.emit(str(e), e.kind)
            return None

    def _fetch(self, remote: RemoteFile, folder: Path, token: str, what: str,
               then: Callable[[Path], object] | None = None) -> Path | None:
        """Download `remote` into `folder` (verified, resumable; pause and cancel reach it), then
        run `then` on the file; None when either failed (said through `failed`, naming `what`)."""
        dl = Downloader(folder, token=token or None, on_progress=self._emit_progress)
        with self._lock:
            self._current = dl
        try:
            path = dl.download(remote)
            if then is not None:
                then(path)
        except DownloadError as e:
            self.failed.emit(str(e), e.kind)
            return None
        except OSError as e:
            self.failed.emit(f"Could not write the {what} file: {e.strerror or e}.", "disk")
            return None
        finally:
            with self._lock:
                self._current = None
        return path

    @Slot(str, str, str, str)
    def _download(self, repo_id: str, filename: str, endpoint: str, token: str) -> None:
        remote = self._remote(repo_id, filename, endpoint, token)
        if remote is None:
            return
        models = self._paths.models
        existing = already_installed(models, remote)
        if existing is not None:
            self.finished.emit(str(existing))
            return
        path = self._fetch(remote, models, token, "model",
                           lambda p: record_download(models, remote, p))
        if path is not None:
            self.finished.emit(str(path))

    @Slot(str, str, str, str)
    def _download_adapter(self, repo_id: str, filename: str, endpoint: str, token: str) -> None:
        """The same verified, resumable downloader, into the adapters' own folder; the file is
        then checked as an adapter and against allowed_adapters (pins included) before it is
        installed, and deleted if it fails either."""
        remote = self._remote(repo_id, filename, endpoint, token)
        if remote is None:
            return
        folder = self._paths.adapters
        path = self._fetch(remote, folder / ".downloads", token, "adapter")
        if path is None:
            return
        try:
            if refusal := adapter_refusal(path, load_policy(), self._paths.cache):
                path.unlink(missing_ok=True)
                self.failed.emit(refusal, "policy")
                return
            dest, info = adopt_download(folder, path)
        except AdapterError as e:
            self.failed.emit(str(e), "adapter")
            return
        except OSError as e:
            self.failed.emit(f"Could not install the adapter: {e.strerror or e}.", "disk")
            return
        self.adapterFinished.emit(str(dest), info.summary())

    def _emit_progress(self, p: Progress) -> None:
        self.progressed.emit(p)


class DownloadService:
    """Owns the worker and its thread; `shutdown()` stops a transfer (keeping its part) and joins."""

    def __init__(self, paths: Paths) -> None:
        self.thread = QThread()
        self.thread.setObjectName("fireside-downloads")
        self.worker = DownloadWorker(paths)
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def shutdown(self) -> None:
        self.worker.pause()  # keeps the partial file, so the next start resumes
        self.thread.quit()
        self.thread.wait()
