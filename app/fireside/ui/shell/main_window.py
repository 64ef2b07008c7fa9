"""The main window: the composition root.

It builds every part once and hands each what it needs through its constructor: the history
(store, sidebar, chat actions, export), the inference worker (which runs the conversation service,
core/chat/session.py, and so does all saving), the overflow question, accessibility, the menus.
Wiring happens here and nowhere else; the parts talk to the person through one Notifier. The
window's own work is turning worker signals into updates of the chat on screen. It never calls
the engine, and stops the worker's thread in the agreed order before it goes away.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.model_access import prepare_load
from fireside.core.admin.policy import load_policy
from fireside.core.chat.conversation import Effort, Sampling
from fireside.core.chat.events import ReplyStats, ToolCall, ToolResult
from fireside.core.chat.session import LeftOut, Saved, ToolRunner, Turn, TurnOptions
from fireside.core.config.paths import Paths, app_paths
from fireside.core.config.settings import Settings, lock_reason
from fireside.core.engine.loading import load_config
from fireside.core.engine.protocol import Engine, ModelInfo
from fireside.core.history.store import Store, StoreError
from fireside.core.models.folders import model_dirs
from fireside.ui import wording
from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.chat.composer import Composer, Mode
from fireside.ui.chat.context_meter import ContextMeter, tokens_in_use
from fireside.ui.chat.context_overflow import OverflowHandler
from fireside.ui.chat.inference_worker import start_worker, stop_worker
from fireside.ui.chat.reasoning_panel import ReasoningPanel
from fireside.ui.chat.tool_approval import ToolApprovals
from fireside.ui.chat.transcript import TranscriptView
from fireside.ui.history.chat_actions import ChatActions
from fireside.ui.history.export_actions import ExportActions
from fireside.ui.history.history import HistoryController
from fireside.ui.history.sidebar import Sidebar
from fireside.ui.look.accessibility import Comfort
from fireside.ui.look.style import stylesheet
from fireside.ui.remotes.target import RemoteTarget, remote_model_name, remote_status, remote_title
from fireside.ui.shell.api_server_panel import install_api_server
from fireside.ui.shell.banner import Banner
from fireside.ui.shell.menus import build_menus
from fireside.ui.shell.notifier import Notifier
from fireside.ui.shell.settings_controller import SettingsController
from fireside.ui.shell.welcome import WelcomePage

log = logging.getLogger(__name__)

DEFAULT_SIZE = (960, 680)
MINIMUM_SIZE = (640, 440)
HISTORY_FILE = "conversations.sqlite3"


class MainWindow(QMainWindow):
    modelLoaded = Signal(object)  # ModelInfo, after the window has updated
    modelLoadFailed = Signal(str)
    replyFinished = Signal(int)  # row, after the footer shows the stats
    replyFailed = Signal(int, str)  # row, message shown inline

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        settings_path: Path | None = None,
        paths: Paths | None = None,
        auto_load_last: bool = False,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        tools_factory: Callable[[], ToolRunner] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`tools_factory` makes the tool registry (MCP servers, the python tool) on the worker's
        thread; None offers no tools (the scripted GUI tests)."""
        super().__init__(parent)
        self.policy = load_policy()  # admin policy wins over the user's settings, per key
        self.paths = paths or app_paths(policy=self.policy)
        self.notifier = Notifier(self)
        self.settings_controller = SettingsController(
            settings_path or self.paths.settings_file, self.policy, self.notifier, self)
        self._max_tokens = max_tokens  # None: until the model stops (tests cap it)
        self._default_sampling = sampling  # None: the engine picks the right defaults for the model
        self._sampling = sampling  # this chat's; a preset may set it, New Chat puts the default back
        self._model_info: ModelInfo | None = None
        self._loading_name: str | None = None
        self._remote_label = ""  # the connection the loaded model runs on ("": this computer)
        self._pending_remote: RemoteTarget | None = None
        self._active_request: int | None = None
        self._next_request = 0
        self._shut_down = False
        # A turn starts in two event-loop passes (see _start): the question shows in the first,
        # the reply's bubble and the worker's start in the next, so no single pass holds the input.
        self._queued_turn: tuple[int, Turn] | None = None
        self._begin_timer = QTimer(self, singleShot=True, interval=1)
        self._begin_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._begin_timer.timeout.connect(self._begin_turn)
        self._panel_auto = False

        self.setWindowTitle(wording.APP_NAME)
        self.resize(*DEFAULT_SIZE)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.setStyleSheet(stylesheet(self.palette()))  # Comfort keeps it following the system
        self._build_widgets()
        self.actions_ = build_menus(self)
        self.composer.set_effort(self.settings.effort_enum)
        self.composer.set_allowed_efforts(self.policy.get("allowed_efforts"),
                                          lock_reason("effort", self.policy))
        if self.policy.problems:
            self.notifier.error(wording.POLICY_PROBLEM_TITLE, "\n".join(map(str, self.policy.problems)))
        self.reasoning_panel.hide()  # nothing to show yet; the welcome page gets the room
        self.actions_.panel.toggled.connect(self._on_panel_toggled)

        store = self._open_store()
        self.worker, self._thread = start_worker(engine_factory, store, self._prepare_load,
                                                 tools_factory, self._open_remote)
        self._tools_offered = tools_factory is not None
        self._connect_worker()
        self.history: HistoryController | None = None
        self.sidebar: Sidebar | None = None
        self.chat_actions: ChatActions | None = None
        self.export_actions: ExportActions | None = None
        if store is not None:
            self._build_history(store)
        self.overflow = OverflowHandler(self.worker, self.notifier, self.current_chat, self)
        self.approvals = ToolApprovals(self.worker, self.current_chat, self._can_always_allow, self)
        self.api_server = install_api_server(self, self.worker, self.policy, self.paths,
                                             lambda: self.settings, store, self.actions_.file_menu)
        if self.history is not None:  # responses stored through the API appear in the sidebar
            self.api_server.conversationStored.connect(self.history.conversationsChanged)
        self.comfort = Comfort(self, self.settings_controller, self.chat_model, self.transcript,
                               self.composer, self.actions_.view_menu, self.sidebar)
        self.replyFinished.connect(self.comfort.announce_reply)
        self.replyFailed.connect(self.comfort.announce_failure)
        self._refresh_state()
        if self.history is not None:
            self.history.restore_last()

        last = self.settings.last_model  # or the organisation's default model, by path or name
        # A file the user opened before and has since deleted: the welcome page, not an error.
        if auto_load_last and last and not (os.path.isabs(last) and not os.path.isfile(last)):
            self.load_model(last)  # a name is looked up on the worker thread

    # Building

    def _build_widgets(self) -> None:
        self.chat_model = ChatModel(self)
        self.error_banner = Banner("error")
        self.notice_banner = Banner("info")
        self.notifier.errorShown.connect(self.error_banner.show_message)
        self.notifier.noticeShown.connect(self.notice_banner.show_message)
        self.notifier.cleared.connect(self.error_banner.clear)
        self.notifier.cleared.connect(self.notice_banner.clear)
        self.welcome = WelcomePage()
        self.welcome.openRequested.connect(self.choose_model_file)
        self.welcome.downloadRequested.connect(lambda: self.actions_.models.trigger())
        self.transcript = TranscriptView(self.chat_model)
        self.transcript.messageActivated.connect(self.select_row)
        self.transcript.branchStepRequested.connect(self.switch_branch)
        self.transcript.branchActionRequested.connect(self._branch_action)
        self.transcript.deleteRequested.connect(self.delete_message)
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
        self.context_meter = ContextMeter()
        self.statusBar().addPermanentWidget(self.context_meter)

    def _open_store(self) -> Store | None:
        try:
            return Store(self.paths.data / HISTORY_FILE)
        except (StoreError, OSError) as exc:
            self.notifier.error("Your chat history is unavailable", str(exc))
            return None

    def _build_history(self, store: Store) -> None:
        history = self.history = HistoryController(store, self.chat_model,
                                                   lambda: self.settings.system_prompt, self)
        history.failed.connect(lambda message: self.notifier.error("Saving failed", message))
        history.currentChanged.connect(lambda _cid: self._refresh_context_meter())
        self.sidebar = Sidebar(history)
        self.sidebar.newChatRequested.connect(self.new_chat)
        self.sidebar.hitOpened.connect(self._show_hit)
        dock = QDockWidget("Chats", self)
        dock.setObjectName("chatsDock")
        dock.setAccessibleName("Chats")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(self.sidebar)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.resizeDocks([dock], [240], Qt.Orientation.Horizontal)
        QShortcut(QKeySequence("Ctrl+K"), self, self.sidebar.focus_search)
        chat_menu = self.actions_.chat_menu
        self.chat_actions = ChatActions(self, self, history, self.chat_model, self.composer, self.notifier,
                                        chat_menu)
        self.export_actions = ExportActions(self, history, self.notifier, chat_menu,
                                            lambda: self.is_generating)
        self.sidebar.exportRequested.connect(lambda cid: self.export_actions.export_chats([cid])
                                             if self.export_actions else None)

    def _connect_worker(self) -> None:
        self.worker.loaded.connect(self._on_loaded)
        self.worker.loadFailed.connect(self._on_load_failed)
        self.worker.unloaded.connect(self._on_unloaded)
        self.worker.saved.connect(self._on_saved)
        self.worker.streamed.connect(self._on_streamed)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.saveFailed.connect(lambda _rid, message: self.notifier.error("Saving failed", message))
        self.worker.leftOut.connect(self._on_left_out)
        self.worker.toolCalled.connect(self._on_tool_called)
        self.worker.toolResult.connect(self._on_tool_result)

    def _prepare_load(self, name: str) -> str:
        """Runs on the worker thread: finding a model by name walks folders, and the
        organisation's allow-list may need the file's hash."""
        return prepare_load(name, self.policy, model_dirs(self.paths, self.policy), self.paths.cache)

    def _open_remote(self, target: RemoteTarget) -> Engine:
        """Runs on the worker thread: connecting and listing models is network I/O."""
        from fireside.core.engine.remotes import open_remote

        return open_remote(target.name_or_url, target.model, self.paths, self.policy)

    # Public API

    @property
    def model_info(self) -> ModelInfo | None:
        return self._model_info

    @property
    def is_generating(self) -> bool:
        return self._active_request is not None

    @property
    def settings(self) -> Settings:
        return self.settings_controller.settings

    def current_chat(self) -> int:
        """The saved chat on screen (0: a new chat, or no history)."""
        return self.history.current_id if self.history is not None else 0

    def choose_model_file(self) -> None:
        start = self.settings.last_model or str(self.paths.models)
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
        self.notifier.clear()
        self._refresh_state()
        self.worker.loadRequested.emit(path, load_config(self.settings))
        return True

    def load_remote(self, target: RemoteTarget) -> bool:
        """Ask the worker to use a remote model; the loaded one stays until it is ready."""
        if self._loading_name is not None or self.is_generating or self._shut_down:
            return False
        self._loading_name = target.loading_text
        self._pending_remote = target
        self.notifier.clear()
        self._refresh_state()
        self.worker.remoteLoadRequested.emit(target)
        return True

    @property
    def remote_label(self) -> str:
        """The connection the loaded model runs on, or "" when it runs on this computer."""
        return self._remote_label

    @Slot(str)
    def send_message(self, text: str) -> bool:
        """Ask `text` in the chat on screen."""
        text = text.strip()
        if not self._can_start() or not text:
            return False
        self.chat_model.add_user_message(text)
        if self.history is None:  # no saved history: the chat on screen is the conversation
            turn = Turn("complete", self._options(), messages=self.chat_model.to_messages())
        else:
            turn = Turn("send", self._options(), text=text, conversation_id=self.history.current_id)
        return self._start(turn)

    def edit_message(self, row: int, text: str) -> bool:
        """Ask `text` instead of the user message at `row`: a new version of it, answered."""
        text = text.strip()
        if not self._can_start() or not text or self.history is None:
            return False
        message_id = self.history.prepare_edit(row)
        if not message_id:
            return False
        self.chat_model.add_user_message(text)
        return self._start(Turn("edit", self._options(), text=text, message_id=message_id))

    def regenerate(self, row: int) -> bool:
        """Answer again the question the reply at `row` answers; the old reply stays a version."""
        if not self._can_start() or self.history is None:
            return False
        reply_id = self.history.prepare_regenerate(row)
        if not reply_id:
            return False
        return self._start(Turn("regenerate", self._options(), message_id=reply_id))

    @Slot(int, int)
    def switch_branch(self, row: int, step: int) -> None:
        if not self.is_generating and self.history is not None:
            self.history.switch_branch(row, step)

    @Slot(int)
    def delete_message(self, row: int) -> None:
        if self.is_generating or self.history is None:
            return
        answer = QMessageBox.question(
            self, "Delete message",
            "Delete this message and everything after it in this version of the chat? "
            "Other versions are kept.")
        if answer == QMessageBox.StandardButton.Yes:
            self.history.delete_message(row)

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
        if self.history is not None:
            self.history.new_chat()
        else:
            self.chat_model.clear()
        self._refresh_context_meter()
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
        self.api_server.stop()  # its streams end first, cancelling their jobs on the worker
        stop_worker(self.worker, self._thread)
        if self.chat_actions is not None:
            self.chat_actions.shutdown()  # an adapter check under way
        if self.history is not None:
            self.history.close()

    def recent_models(self) -> list[str]:
        return [p for p in self.settings.recent_models if Path(p).is_file()]

    def make_action(self, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # Turns

    def _can_start(self) -> bool:
        return self._model_info is not None and not self._loading_name and not self.is_generating

    def _options(self) -> TurnOptions:
        info = self._model_info
        assert info is not None
        effort = self.composer.effort() if info.supports_effort else Effort.MEDIUM
        system_prompt = self.history.system_prompt() if self.history else self.settings.system_prompt
        return TurnOptions(effort=effort, max_tokens=self._max_tokens, sampling=self._sampling,
                           model_name=remote_model_name(info, self._remote_label)
                           if self._remote_label else info.name, system_prompt=system_prompt,
                           leave_out_older=self.overflow.agreed_for(self.current_chat()),
                           mcp_tools=self._tools_offered, python_tool=self._tools_offered,
                           adapters=self.composer.adapters(), json_schema=self.composer.json_schema())

    def _can_always_allow(self, call: ToolCall) -> bool:
        """"Always allow" is for MCP tools, and only when the organisation permits it."""
        return call.recipient.startswith("functions.") and not self.policy.auto_approval_refusal()

    def _start(self, turn: Turn) -> bool:
        """Claim the turn now (nothing else can start, Stop works) and begin it in the next pass
        of the event loop: a key press or a repaint gets in between the question appearing and
        the reply's bubble, so pressing Enter never holds the window for a whole frame."""
        self._next_request += 1
        self._active_request = self._next_request
        self._queued_turn = (self._active_request, turn)
        self._refresh_state()  # Stop instead of Send, at once; the heavier half waits a pass
        self._begin_timer.start()
        return True

    def _begin_turn(self) -> None:
        queued, self._queued_turn = self._queued_turn, None
        if queued is None or self._shut_down:
            return
        request, turn = queued
        row = self.chat_model.start_reply(request)
        self.transcript.scroll_to_bottom()
        self.select_row(row)
        self.worker.turnRequested.emit(request, turn)

    def _branch_action(self, row: int) -> None:
        if self.is_generating or self._model_info is None:
            return
        item = self.chat_model.item(row)
        if item.role != "user":
            self.regenerate(row)
            return
        text, ok = QInputDialog.getMultiLineText(self, "Edit message",
                                                 "Change your message and ask again:", item.text)
        if ok and text.strip():
            self.edit_message(row, text)

    def _show_hit(self, message_id: int) -> None:
        """Select and scroll to the message a search found, with the searched word selected."""
        if self.history is None or self.sidebar is None:
            return
        for row in range(self.chat_model.rowCount()):
            if self.history.message_id(row) == message_id:
                self.select_row(row)
                self.transcript.reveal(row, self.sidebar.search_words())
                return

    # Worker results

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self._model_info = info
        self._loading_name = None
        pending, self._pending_remote = self._pending_remote, None
        self._remote_label = pending.label if info.is_remote and pending else ""
        if not info.is_remote:  # a remote model is not a file to reopen at start
            self.settings_controller.update(self.settings.with_recent_model(info.path))
        if info.note:
            self.notifier.notice(wording.NOTE_TITLE, info.note)
        self.composer.set_effort_supported(info.supports_effort)
        # The panel has nothing to show for models that do not reason; hide it for them without
        # forgetting that the user wants it for the ones that do.
        self._panel_auto = True
        self.reasoning_panel.setVisible(self.settings.show_reasoning_panel and info.supports_effort)
        self._panel_auto = False
        self.stack.setCurrentWidget(self.transcript)
        self._refresh_state()
        self._refresh_context_meter()
        self.composer.focus_input()
        self.modelLoaded.emit(info)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self._loading_name = None
        self._pending_remote = None
        self.notifier.error(wording.LOAD_FAILED_TITLE, message)
        self._refresh_state()
        self.modelLoadFailed.emit(message)

    @Slot()
    def _on_unloaded(self) -> None:
        self._model_info = None

    @Slot(int, object)
    def _on_saved(self, request_id: int, saved: Saved) -> None:
        if self.history is None or self.chat_model.row_for_request(request_id) < 0:
            return
        if saved.role == "assistant":
            row = self.chat_model.live_reply_row(request_id)
        elif saved.role == "tool":
            row = self.chat_model.last_row(request_id, "tool")
        else:
            row = self.chat_model.row_for_request(request_id) - 1
        self.history.on_saved(row, saved)

    @Slot(int, str, str)
    def _on_streamed(self, request_id: int, reasoning: str, answer: str) -> None:
        if self.chat_model.row_for_request(request_id) < 0:
            return  # the chat was cleared or switched
        self.chat_model.append_delta(self.chat_model.live_reply_row(request_id), reasoning, answer)

    @Slot(int, object)
    def _on_tool_called(self, request_id: int, call: ToolCall) -> None:
        self.chat_model.add_tool_call(request_id, call)

    @Slot(int, object)
    def _on_tool_result(self, request_id: int, result: ToolResult) -> None:
        if self.chat_model.row_for_request(request_id) >= 0:
            self.chat_model.add_tool_result(request_id, result)
            self.transcript.scroll_to_bottom()

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

    @Slot(int, object)
    def _on_left_out(self, _request_id: int, left: LeftOut) -> None:
        self.overflow.show_left_out(left)

    def _reply_over(self, request_id: int) -> None:
        if request_id == self._active_request:
            self._active_request = None
            self._refresh_state()
            self._refresh_context_meter()
            if self.history is not None:
                self.history.reply_ended()
            self.composer.focus_input()

    # State and settings

    def _refresh_state(self) -> None:
        if self._loading_name is not None:
            mode, status = Mode.LOADING, wording.loading(self._loading_name)
        elif self._model_info is None:
            mode, status = Mode.NO_MODEL, wording.NO_MODEL
        else:
            mode = Mode.GENERATING if self.is_generating else Mode.READY
            status = (remote_status(self._model_info, self._remote_label) if self._remote_label
                      else wording.model_status(self._model_info))
        self.composer.set_mode(mode)
        self.status_label.setText(status)
        self.welcome.set_loading(self._loading_name)
        if self._model_info is None:
            self.stack.setCurrentWidget(self.welcome)
        name = self._model_info.name if self._model_info else ""
        if self._model_info is not None and self._remote_label:
            name = remote_title(self._model_info, self._remote_label)
        self.setWindowTitle(f"{name} — {wording.APP_NAME}" if name else wording.APP_NAME)
        busy = self._loading_name is not None or self.is_generating
        self.actions_.open.setEnabled(not busy)
        self.actions_.recent.setEnabled(not busy)
        self.actions_.new_chat.setEnabled(not self.is_generating)
        self.actions_.stop.setEnabled(mode == Mode.GENERATING)
        if self.history is not None:
            self.history.busy = self.is_generating

    def _refresh_context_meter(self) -> None:
        """Context use after each reply and on opening a chat: the last reply's whole window."""
        self.context_meter.set_total(self._model_info.n_ctx if self._model_info else 0)
        row = self.chat_model.latest_assistant_row()
        self.context_meter.set_used(tokens_in_use(self.chat_model.item(row).stats) if row >= 0 else 0)

    def _on_effort_changed(self, effort: Effort) -> None:
        self.settings_controller.update(self.settings.with_changes(effort=effort.value))

    def _on_panel_toggled(self, visible: bool) -> None:
        if self._panel_auto:
            return
        if not self._shut_down and self._model_info is not None:
            self.settings_controller.update(self.settings.with_changes(show_reasoning_panel=visible))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.hide()  # disappear at once; waiting for the engine to notice Stop takes a moment
        self.shutdown()
        event.accept()
