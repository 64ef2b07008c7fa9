"""The main window: wires the composer, transcript, reasoning panel and the inference worker.

The window holds the only state that matters to the user (which model, which reply is streaming)
and turns worker signals into model updates. The engine lives on the worker's thread; this class
never calls it, and it stops that thread in the agreed order before the window goes away.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fireside.core.chat.conversation import ChatRequest, Effort, Sampling
from fireside.core.engine.protocol import Engine, LoadConfig, ModelInfo
from fireside.core.chat.events import ReplyStats
from fireside.core.admin.model_access import prepare_load
from fireside.core.models.folders import model_dirs
from fireside.core.config.paths import Paths, app_paths
from fireside.core.admin.policy import load_policy
from fireside.core.config.settings import (
    Settings,
    apply_user_changes,
    effective_settings,
    load_settings,
    lock_reason,
    save_settings,
)

from fireside.ui import wording
from fireside.ui.shell.banner import Banner
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.look.accessibility import install_comfort
from fireside.ui.chat.composer import Composer, Mode
from fireside.ui.chat.context_overflow import install_overflow_handler
from fireside.ui.chat.inference_worker import InferenceWorker, start_worker, stop_worker
from fireside.ui.shell.menus import build_menus
from fireside.ui.chat.reasoning_panel import ReasoningPanel
from fireside.ui.history.sidebar import install_history
from fireside.ui.look.style import stylesheet
from fireside.ui.chat.transcript import TranscriptView
from fireside.ui.shell.welcome import WelcomePage

log = logging.getLogger(__name__)

DEFAULT_SIZE = (960, 680)
MINIMUM_SIZE = (640, 440)


class MainWindow(QMainWindow):
    modelLoaded = Signal(object)  # ModelInfo, after the window has updated
    modelLoadFailed = Signal(str)
    replyFinished = Signal(int)  # row, after the footer shows the stats
    replyFailed = Signal(int, str)  # row, message shown inline
    worker: InferenceWorker  # declared: modules that take the window read it before its __init__ is checked

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        settings_path: Path | None = None,
        paths: Paths | None = None,
        auto_load_last: bool = False,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._policy = load_policy()  # admin policy wins over the user's settings, per key
        self._paths = paths or app_paths(policy=self._policy)
        self._settings_path = settings_path or self._paths.settings_file
        self._user_settings = load_settings(self._settings_path)  # what the file holds
        self._settings: Settings = effective_settings(self._user_settings, self._policy)
        self._max_tokens = max_tokens  # None: until the model stops (tests cap it)
        self._default_sampling = sampling  # None: the engine picks the right defaults for the model
        self._sampling = sampling  # this chat's; a preset may set it, New Chat puts the default back
        self._model_info: ModelInfo | None = None
        self._loading_name: str | None = None
        self._active_request: int | None = None
        self._next_request = 0
        self._shut_down = False

        self.setWindowTitle(wording.APP_NAME)
        self.resize(*DEFAULT_SIZE)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.setStyleSheet(stylesheet(self.palette()))  # comfort.py keeps it following the system
        self._build_widgets()
        self.actions_ = build_menus(self)
        self.composer.set_effort(self._settings.effort_enum)
        self.composer.set_allowed_efforts(self._policy.get("allowed_efforts"),
                                          lock_reason("effort", self._policy))
        if self._policy.problems:
            self.error_banner.show_message(wording.POLICY_PROBLEM_TITLE,
                                           "\n".join(map(str, self._policy.problems)))
        self.reasoning_panel.hide()  # nothing to show yet; the welcome page gets the room
        self.actions_.panel.toggled.connect(self._on_panel_toggled)

        self.worker, self._thread = start_worker(engine_factory, self._prepare_load)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.loadFailed.connect(self._on_load_failed)
        self.worker.unloaded.connect(self._on_unloaded)
        self.worker.streamed.connect(self._on_streamed)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self._refresh_state()
        self.history = install_history(self)  # saved chats: sidebar, branches, reopen last chat
        self.comfort = install_comfort(self)  # theme, text size, screen-reader announcements, Tab
        self.overflow = install_overflow_handler(self)  # a chat too long for the context: ask

        last = self._settings.last_model  # or the organisation's default model, by path or name
        # A file the user opened before and has since deleted: the welcome page, not an error.
        if auto_load_last and last and not (os.path.isabs(last) and not os.path.isfile(last)):
            self.load_model(last)  # a name is looked up on the worker thread

    def _build_widgets(self) -> None:
        self.chat_model = ChatModel(self)
        self.error_banner = Banner("error")
        self.notice_banner = Banner("info")
        self.welcome = WelcomePage()
        self.welcome.openRequested.connect(self.choose_model_file)
        self.welcome.downloadRequested.connect(lambda: self.actions_.models.trigger())
        self.transcript = TranscriptView(self.chat_model)
        self.transcript.messageActivated.connect(self.select_row)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.transcript)
        self.composer = Composer()
        self.composer.sendRequested.connect(self.send_message)
        self.composer.stopRequested.connect(self.stop_generation)
        self.composer.effortChanged.connect(self._on_effort_changed)

        banners = QVBoxLayout()
        banners.setContentsMargins(12, 8, 12, 0)
        banners.addWidget(self.error_banner)
        banners.addWidget(self.notice_banner)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(banners)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.composer)
        self.setCentralWidget(central)

        self.reasoning_panel = ReasoningPanel(self.chat_model, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.reasoning_panel)
        self.resizeDocks([self.reasoning_panel], [300], Qt.Orientation.Horizontal)

        self.status_label = QLabel()
        self.status_label.setAccessibleName("Model status")
        self.status_label.setContentsMargins(8, 0, 0, 0)
        self.statusBar().addWidget(self.status_label, 1)

    def _prepare_load(self, name: str) -> str:
        """Runs on the worker thread: finding a model by name walks folders, and the
        organisation's allow-list may need the file's hash."""
        return prepare_load(name, self._policy, model_dirs(self._paths, self._policy), self._paths.cache)

    # Public API

    @property
    def model_info(self) -> ModelInfo | None:
        return self._model_info

    @property
    def is_generating(self) -> bool:
        return self._active_request is not None

    @property
    def settings(self) -> Settings:
        return self._settings

    def choose_model_file(self) -> None:
        start = self._settings.last_model or str(self._paths.models)
        path, _ = QFileDialog.getOpenFileName(
            self, wording.OPEN_MODEL_DIALOG_TITLE, start, wording.OPEN_MODEL_FILTER
        )
        if path:
            self.load_model(path)

    def load_model(self, path: str) -> bool:
        """Ask the worker to load `path`. False when busy (loading or generating)."""
        if self._loading_name is not None or self.is_generating or self._shut_down:
            return False
        self._loading_name = Path(path).stem or path
        self.error_banner.clear()
        self.notice_banner.clear()
        self._refresh_state()
        self.worker.loadRequested.emit(path, self._load_config())
        return True

    @Slot(str)
    def send_message(self, text: str) -> bool:
        if self._model_info is None or self._loading_name or self.is_generating:
            return False
        text = text.strip()
        if not text:
            return False
        self.chat_model.add_user_message(text)
        effort = self.composer.effort() if self._model_info.is_harmony else Effort.MEDIUM
        request = ChatRequest(
            messages=self.chat_model.to_messages(),
            system_prompt=self.history.system_prompt() if self.history else self._settings.system_prompt,
            effort=effort,
            max_tokens=self._max_tokens,
            sampling=self._sampling,
        )
        self._next_request += 1
        self._active_request = self._next_request
        row = self.chat_model.start_reply(self._active_request)
        self.transcript.scroll_to_bottom()
        self.select_row(row)
        self._refresh_state()
        self.worker.generateRequested.emit(self._active_request, request)
        return True

    @Slot()
    def stop_generation(self) -> None:
        """Set the cancel flag straight from the GUI thread; the worker is busy in the engine."""
        if self._active_request is None:
            return
        self.worker.cancel(self._active_request)
        self.composer.set_mode(Mode.STOPPING)
        self.actions_.stop.setEnabled(False)

    def new_chat(self) -> None:
        if self.is_generating:
            return
        self._sampling = self._default_sampling
        self.chat_model.clear()
        self.composer.focus_input()

    def set_chat_sampling(self, sampling: Sampling | None) -> None:
        """Sampling for this chat's next replies (None: the loaded model's recommended settings)."""
        self._sampling = sampling if sampling is not None else self._default_sampling

    @Slot(int)
    def select_row(self, row: int) -> None:
        """Show row's reasoning in the panel (user rows select the reply that answers them)."""
        rows = self.chat_model.rowCount()
        if 0 <= row < rows - 1 and self.chat_model.item(row).role == "user":
            row += 1
        self.transcript.set_selected_row(row)
        self.reasoning_panel.show_row(row)

    def show_about(self) -> None:
        QMessageBox.about(self, wording.ACTION_ABOUT.replace("&", ""), wording.ABOUT_TEXT)

    def shutdown(self) -> None:
        """Stop the worker thread (cancel, quit, wait) and free the model. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        stop_worker(self.worker, self._thread)
        if self.history is not None:
            self.history.close()

    # Worker results

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self._model_info = info
        self._loading_name = None
        self._update_settings(self._settings.with_recent_model(info.path))
        if info.note:
            self.notice_banner.show_message(wording.NOTE_TITLE, info.note)
        self.composer.set_effort_supported(info.is_harmony)
        # The panel has nothing to show for models that do not reason; hide it for them without
        # forgetting that the user wants it for the ones that do.
        self._panel_auto = True
        self.reasoning_panel.setVisible(self._settings.show_reasoning_panel and info.is_harmony)
        self._panel_auto = False
        self.stack.setCurrentWidget(self.transcript)
        self._refresh_state()
        self.composer.focus_input()
        self.modelLoaded.emit(info)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._loading_name = None
        self.error_banner.show_message(wording.LOAD_FAILED_TITLE, message)
        self._refresh_state()
        self.modelLoadFailed.emit(message)

    @Slot()
    def _on_unloaded(self) -> None:
        self._model_info = None

    @Slot(int, str, str)
    def _on_streamed(self, request_id: int, reasoning: str, answer: str) -> None:
        row = self.chat_model.row_for_request(request_id)
        if row >= 0:
            self.chat_model.append_delta(row, reasoning, answer)

    @Slot(int, object)
    def _on_finished(self, request_id: int, stats: ReplyStats) -> None:
        row = self.chat_model.row_for_request(request_id)
        if row >= 0:
            self.chat_model.finish_reply(row, stats)
        self._reply_over(request_id)
        if row >= 0:
            self.replyFinished.emit(row)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        row = self.chat_model.row_for_request(request_id)
        if row >= 0:
            self.chat_model.fail_reply(row, message)
        self._reply_over(request_id)
        if row >= 0:
            self.replyFailed.emit(row, message)

    def _reply_over(self, request_id: int) -> None:
        if request_id == self._active_request:
            self._active_request = None
            self._refresh_state()
            self.composer.focus_input()

    # State and settings

    def _refresh_state(self) -> None:
        if self._loading_name is not None:
            mode, status = Mode.LOADING, wording.loading(self._loading_name)
        elif self._model_info is None:
            mode, status = Mode.NO_MODEL, wording.NO_MODEL
        else:
            mode = Mode.GENERATING if self.is_generating else Mode.READY
            status = wording.model_status(self._model_info)
        self.composer.set_mode(mode)
        self.status_label.setText(status)
        self.welcome.set_loading(self._loading_name)
        if self._model_info is None:
            self.stack.setCurrentWidget(self.welcome)
        name = self._model_info.name if self._model_info else ""
        self.setWindowTitle(f"{name} — {wording.APP_NAME}" if name else wording.APP_NAME)
        busy = self._loading_name is not None or self.is_generating
        self.actions_.open.setEnabled(not busy)
        self.actions_.recent.setEnabled(not busy)
        self.actions_.new_chat.setEnabled(not self.is_generating)
        self.actions_.stop.setEnabled(mode == Mode.GENERATING)

    def _load_config(self) -> LoadConfig:
        s = self._settings
        return LoadConfig(
            n_ctx=s.n_ctx,
            n_threads=s.n_threads or None,
            n_gpu_layers=s.n_gpu_layers,
            flash_attn=s.flash_attn,
            auto_fit=s.auto_fit,
        )

    def _on_effort_changed(self, effort: Effort) -> None:
        self._update_settings(self._settings.with_changes(effort=effort.value))

    def _on_panel_toggled(self, visible: bool) -> None:
        if getattr(self, "_panel_auto", False):
            return
        if not self._shut_down and self._model_info is not None:
            self._update_settings(self._settings.with_changes(show_reasoning_panel=visible))

    def _update_settings(self, settings: Settings) -> None:
        """Take an edited copy of the effective settings; save only what the user changed."""
        user = apply_user_changes(self._user_settings, self._settings, settings)
        if user == self._user_settings:
            return
        self._user_settings = user
        self._settings = effective_settings(user, self._policy)
        try:
            save_settings(user, self._settings_path)
        except OSError as exc:
            log.warning("Saving settings to %s failed: %s", self._settings_path, exc)
            self.error_banner.show_message(wording.SETTINGS_SAVE_FAILED, str(exc))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.hide()  # disappear at once; waiting for the engine to notice Stop takes a moment
        self.shutdown()
        event.accept()

    # Used by menus.py

    def recent_models(self) -> list[str]:
        return [p for p in self._settings.recent_models if Path(p).is_file()]

    def make_action(self, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        return action
