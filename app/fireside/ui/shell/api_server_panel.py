"""File › Local API Server…: serve the window's loaded model to other programs (server/).

The server runs on its own thread and event loop; its turns run on the window's inference
worker (`InferenceWorker.jobRequested`), queued with the window's own replies, so the model is
loaded once. The dialog shows a toggle, the address, the key with a Copy button, and a live log
of requests (method, path, status, model, time: never the key or the content). While the engine
answers an API request the status bar says so.

The server stack (Starlette, uvicorn, and through its parsers llama.cpp's bindings) is imported
only when the server is turned on or its dialog asks: at module level it cost every start of the
window about half a second before anything was shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy
from fireside.core.chat.session import ChatSession
from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings
from fireside.core.engine.loading import load_config
from fireside.core.engine.protocol import ModelInfo
from fireside.core.history.store import Store
from fireside.core.models.folders import model_dirs
from fireside.server.keys import ApiKey, api_key
from fireside.server.models import InstalledModels
from fireside.ui.chat.inference_worker import InferenceWorker

if TYPE_CHECKING:
    from fireside.server.app import LogEntry
    from fireside.server.engine_access import Job
    from fireside.server.runner import ApiServer

BUSY_TEXT = "Answering a request from another program (Local API server)…"


class ApiServerController(QObject):
    """Starts and stops the server; the engine side of its jobs is the window's worker."""

    logged = Signal(object)  # LogEntry, from the server's thread
    busyChanged = Signal(bool)  # from the worker's thread
    stateChanged = Signal(str)  # the address while serving, "" when stopped
    conversationStored = Signal(int)  # a stored response was written to this conversation

    def __init__(self, worker: InferenceWorker, policy: Policy, paths: Paths,
                 settings: Callable[[], Settings], store: Store | None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker, self._policy, self._paths = worker, policy, paths
        self._settings, self._store = settings, store
        self._server: ApiServer | None = None
        self._loaded_path = ""  # written on the GUI thread, read by the server's thread
        self.key: ApiKey | None = None
        self.dialog: ApiServerDialog | None = None
        self._models = InstalledModels(policy, lambda: model_dirs(paths, policy), paths.cache)
        worker.loaded.connect(self._on_loaded)

    @property
    def url(self) -> str:
        return self._server.url if self._server is not None else ""

    @property
    def host(self) -> str:
        return self._server.host if self._server is not None else self._settings().api_host

    def refusal(self) -> str:
        from fireside.server.runner import is_loopback

        host = self._settings().api_host
        return self._policy.api_server_refusal(host, is_loopback(host))

    def start(self) -> str:
        """Serve; returns the address or raises ServerError with a sentence for the person."""
        from fireside.server.app import ServerOptions, build_app
        from fireside.server.runner import ApiServer, ServerError

        if self._server is not None:
            return self.url
        if refusal := self.refusal():
            raise ServerError(refusal)
        settings = self._settings()
        self.key = api_key()
        options = ServerOptions(key=self.key.value, cors_origins=settings.api_cors_origins,
                                default_effort=settings.effort_enum, on_log=self.logged.emit,
                                on_stored=self.conversationStored.emit)
        server = ApiServer(build_app(self, self._store, options), settings.api_host, settings.api_port)
        server.start()
        self._server = server
        self.stateChanged.emit(server.url)
        return server.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # open streams end, which cancels their jobs
            self.stateChanged.emit("")

    # EngineAccess, called on the server's thread

    def submit(self, job: Job) -> None:
        # Imported here, not at the top: engine_access pulls in asyncio (~80 ms of every start),
        # and only a running server submits jobs.
        from fireside.server.engine_access import ModelSwitcher

        settings = self._settings()

        def run(session: ChatSession) -> None:
            switch = ModelSwitcher(lambda: session.engine, self._models,
                                   lambda: load_config(settings), settings.api_load_on_demand)
            self.busyChanged.emit(True)
            try:
                job.execute(session, switch)
            finally:
                self.busyChanged.emit(False)

        self._worker.jobRequested.emit(run)

    def model_ids(self) -> list[str]:
        loaded = self._models.model_id(self._loaded_path) if self._loaded_path else ""
        return ([loaded] if loaded else []) + [m for m in self._models.ids() if m != loaded]

    def _on_loaded(self, info: ModelInfo) -> None:
        self._loaded_path = info.path

    def open_dialog(self, parent: QWidget) -> ApiServerDialog:
        if self.dialog is None:
            self.dialog = ApiServerDialog(self, parent)
        self.dialog.show()
        return self.dialog


class ApiServerDialog(QDialog):
    def __init__(self, controller: ApiServerController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Local API Server")
        self.setObjectName("apiServerDialog")
        self._controller = controller
        self.toggle = QCheckBox("Serve the OpenAI API (Chat Completions, Responses) to programs "
                                "on this computer")
        self.address = QLineEdit(readOnly=True)
        self.address.setAccessibleName("Server address")
        self.key = QLineEdit(readOnly=True)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("API key")
        self.copy = QPushButton("Copy key")
        self.show_key = QPushButton("Show")
        self.show_key.setCheckable(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(500)
        self.log.setAccessibleName("Request log")
        self.log.setPlaceholderText("Requests will appear here.")
        key_row = QHBoxLayout()
        key_row.addWidget(self.key, 1)
        key_row.addWidget(self.show_key)
        key_row.addWidget(self.copy)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)  # freely resizable
        layout.addWidget(self.toggle)
        layout.addWidget(QLabel("Address"))
        layout.addWidget(self.address)
        layout.addWidget(QLabel("Key (send it as “Authorization: Bearer KEY”)"))
        layout.addLayout(key_row)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("Requests"))
        layout.addWidget(self.log, 1)
        self.resize(560, 420)
        self.toggle.toggled.connect(self._on_toggled)
        self.copy.clicked.connect(self._copy)
        self.show_key.toggled.connect(lambda on: self.key.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        controller.logged.connect(self._on_logged)
        controller.stateChanged.connect(self._refresh)
        self._refresh(controller.url)

    def _on_toggled(self, on: bool) -> None:
        from fireside.server.runner import ServerError

        try:
            if on:
                self._controller.start()
            else:
                self._controller.stop()
        except ServerError as exc:
            self.toggle.blockSignals(True)
            self.toggle.setChecked(False)
            self.toggle.blockSignals(False)
            self.status.setText(str(exc))

    def _refresh(self, url: str) -> None:
        refusal = self._controller.refusal()
        self.toggle.setEnabled(not refusal or bool(url))
        self.toggle.blockSignals(True)
        self.toggle.setChecked(bool(url))
        self.toggle.blockSignals(False)
        key = self._controller.key
        self.address.setText(url)
        self.key.setText(key.value if key is not None and url else "")
        self.copy.setEnabled(bool(url))
        if refusal and not url:
            self.status.setText(refusal)
        elif url:
            from fireside.server.runner import is_loopback

            reach = ("Only programs on this computer can connect." if is_loopback(self._controller.host)
                     else "Warning: other computers on your network can connect; anyone with the key "
                          "can use your model.")
            self.status.setText(f"Serving. The key is {key.source if key else ''}. {reach}")
        else:
            self.status.setText("Off. Turn it on to let editors and scripts use the loaded model.")

    def _copy(self) -> None:
        key = self._controller.key
        if key is not None:
            QGuiApplication.clipboard().setText(key.value)
            self.status.setText("The key is on the clipboard.")

    def _on_logged(self, entry: LogEntry) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.when))
        model = f" {entry.model}" if entry.model else ""
        note = f" — {entry.note}" if entry.note and entry.status >= 400 else ""
        self.log.appendPlainText(f"{stamp}  {entry.method} {entry.path}  {entry.status}{model}  "
                                 f"{entry.seconds:.2f} s{note}")


def install_api_server(window: QMainWindow, worker: InferenceWorker, policy: Policy, paths: Paths,
                       settings: Callable[[], Settings], store: Store | None,
                       menu: QMenu) -> ApiServerController:
    """The window's hook: the controller, a File menu item opening the dialog, busy status."""
    controller = ApiServerController(worker, policy, paths, settings, store, window)
    action = menu.addAction("Local API Server…")
    action.setObjectName("apiServerAction")
    action.triggered.connect(lambda: controller.open_dialog(window))
    bar = window.statusBar()
    controller.busyChanged.connect(lambda busy: bar.showMessage(BUSY_TEXT) if busy
                                   else bar.clearMessage())
    return controller
