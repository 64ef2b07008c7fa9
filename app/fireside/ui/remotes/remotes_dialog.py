"""File ▸ Remote Models…: the saved remote connections, with Add, Remove, Test and Use.

Each row shows the connection's name, address, default model and whether its key is in the
keyring. Test asks the endpoint for its models on a background thread (never the GUI thread) and
shows them, or why it failed (unreachable, 401, TLS) in the words of core/engine/remote_errors.py.
Use hands a RemoteTarget to the window, which loads it on its inference worker. Offline mode and
the organisation's policy grey out what they refuse, with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths
from fireside.core.engine.protocol import EngineError
from fireside.core.engine.remote_engine import RemoteEngine
from fireside.core.engine.remotes import Connection, Remotes, key_store, refusal, resolve
from fireside.ui.remotes.add_dialog import AddRemoteDialog
from fireside.ui.remotes.target import RemoteTarget, in_window_words

COLUMNS = ("Name", "Address", "Default model", "Key", "State")
COL_STATE = 4
NAME = Qt.ItemDataRole.UserRole


def probe_connection(name: str, paths: Paths, policy: Policy,
                    keyring_backend: Any | None = None) -> tuple[list[str], str]:
    """The endpoint's model ids, or a sentence saying why not. Network I/O: a worker thread's job."""
    try:
        endpoint = resolve(name, paths, policy, keyring_backend=keyring_backend)
        engine = RemoteEngine(endpoint)
        try:
            return engine.list_models(), ""
        finally:
            engine.close()
    except (EngineError, ValueError) as e:
        return [], str(e)
    except Exception as e:  # anything else is still a sentence, not a traceback
        return [], f"Testing {name} failed: {e}"


class _Relay(QObject):
    tested = Signal(int, str, object, str)  # job, name, models, message


class RemotesDialog(QDialog):
    testFinished = Signal(str, str)  # connection name, what the result line says
    useRequested = Signal(object)  # RemoteTarget

    def __init__(self, paths: Paths, policy: Policy | None = None, parent: QWidget | None = None,
                 use: Callable[[RemoteTarget], bool] | None = None,
                 keyring_backend: Any | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Remote Models")
        self.setObjectName("remotesDialog")
        self.resize(820, 460)
        # an explicit minimum: otherwise each new result line resizes the window's minimum,
        # which some platforms (offscreen, Wayland) refuse with a warning
        self.setMinimumSize(560, 340)
        self.paths = paths
        self.policy = load_policy() if policy is None else policy
        self._use = use
        self._backend = keyring_backend
        self._job = 0
        self._closed = threading.Event()
        self._relay = _Relay(self)
        self._relay.tested.connect(self._on_tested)
        self._build()
        self.refresh()

    # -- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        heading = QLabel("Remote models")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        heading.setFont(font)
        layout.addWidget(heading)
        intro = QLabel("Models that run on a server your organisation or you run, spoken to over "
                       "the OpenAI API. Your messages leave this computer for that server; tools "
                       "still run here. API keys are kept only in your system keyring.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.refusal_label = QLabel()
        self.refusal_label.setObjectName("remotesRefusal")
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setStyleSheet("color: palette(placeholder-text); font-style: italic;")
        layout.addWidget(self.refusal_label)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAccessibleName("Remote connections")
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.tree.itemDoubleClicked.connect(lambda *_: self.use_selected())
        layout.addWidget(self.tree, 1)
        self.result_label = QLabel()
        self.result_label.setObjectName("remotesResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.setMinimumHeight(self.fontMetrics().lineSpacing() * 3)
        self.result_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.result_label)
        row = QHBoxLayout()
        self.add_button = QPushButton("&Add…")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.test_button = QPushButton("&Test")
        self.test_button.setToolTip("Connect and list the models this endpoint offers")
        self.test_button.clicked.connect(self.test_selected)
        self.use_button = QPushButton("&Use")
        self.use_button.setToolTip("Chat with this connection's default model in the window")
        self.use_button.clicked.connect(self.use_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for b in (self.add_button, self.remove_button, self.test_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.use_button)
        row.addWidget(close)
        layout.addLayout(row)

    # -- state -----------------------------------------------------------------------------------
    def _offline_reason(self) -> str:
        """Why no remote may be used at all now (offline mode, offline_only), or ""."""
        from fireside.core.config.settings import effective_settings, load_settings

        endpoints = self.policy.get("allowed_remote_endpoints")
        if self.policy.get("offline_only") is True or (endpoints is not None and not endpoints):
            return self.policy.remote_refusal("https://any.invalid/v1")
        if effective_settings(load_settings(self.paths.settings_file), self.policy).offline:
            return refusal("https://any.invalid/v1", self.paths, self.policy)
        return ""

    def refresh(self, select: str = "") -> None:
        try:
            connections = Remotes(self.paths.config).all()
        except EngineError as e:
            connections = []
            self.result_label.setText(str(e))
        current = select or self.selected_name()
        offline = self._offline_reason()
        self.tree.clear()
        for c in connections:
            self.tree.addTopLevelItem(self._item(c, bool(offline)))
        if not connections:
            self.result_label.setText("No remote connections yet. Add one with Add….")
        self.refusal_label.setText(offline)
        self.refusal_label.setVisible(bool(offline))
        self.add_button.setEnabled(not offline)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and (item.data(0, NAME) == current or (not current and i == 0)):
                self.tree.setCurrentItem(item)
        self._update_buttons()

    def _item(self, c: Connection, offline: bool) -> QTreeWidgetItem:
        has_key = key_store(c.name, self.policy, self._backend).get() is not None
        why = refusal(c.base_url, self.paths, self.policy)
        state = ("Off (offline)" if offline else "Not allowed") if why else "Ready"
        item = QTreeWidgetItem([c.name, c.base_url, c.model or "(the endpoint's only model)",
                                "in keyring" if has_key else "not set", state])
        item.setData(0, NAME, c.name)
        tip = why or (f"CA bundle: {c.ca_bundle}" if c.ca_bundle else c.base_url)
        for col in range(len(COLUMNS)):
            item.setToolTip(col, tip)
        if why:  # greyed, but still selectable: it can be removed, and the reason is shown
            grey = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            for col in range(len(COLUMNS)):
                item.setForeground(col, grey)
            item.setData(COL_STATE, Qt.ItemDataRole.UserRole, why)
        return item

    def selected_name(self) -> str:
        item = self.tree.currentItem()
        return str(item.data(0, NAME)) if item is not None else ""

    def _selected_refusal(self) -> str:
        item = self.tree.currentItem()
        return str(item.data(COL_STATE, Qt.ItemDataRole.UserRole) or "") if item else ""

    def _update_buttons(self) -> None:
        name = self.selected_name()
        why = self._selected_refusal()
        self.remove_button.setEnabled(bool(name))
        self.test_button.setEnabled(bool(name) and not why)
        self.use_button.setEnabled(bool(name) and not why and self._use is not None)
        if why and why != self.refusal_label.text():  # offline is said once, above the list
            self.result_label.setText(why)

    # -- actions ---------------------------------------------------------------------------------
    def add(self) -> str:
        form = AddRemoteDialog(self.paths, self.policy, self._backend, self)
        if form.exec() == QDialog.DialogCode.Accepted:
            self.refresh(select=form.saved_name)
            self.result_label.setText(f"Saved {form.saved_name}. Test it to see its models.")
        return form.saved_name

    def remove_selected(self) -> None:
        name = self.selected_name()
        if not name:
            return
        answer = QMessageBox.question(self, "Remove connection",
                                      f"Forget the connection “{name}” and its key?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        Remotes(self.paths.config).remove(name)
        key_store(name, self.policy, self._backend).clear()
        self.result_label.setText(f"Removed {name} and its key.")
        self.refresh()

    def test_selected(self) -> None:
        name = self.selected_name()
        if not name or self._selected_refusal():
            return
        self._job += 1
        job = self._job
        self.result_label.setText(f"Connecting to {name}…")
        self.test_button.setEnabled(False)
        threading.Thread(target=self._test_main, args=(job, name), daemon=True,
                         name="fireside-remote-test").start()

    def _test_main(self, job: int, name: str) -> None:
        models, message = probe_connection(name, self.paths, self.policy, self._backend)
        if self._closed.is_set():
            return
        try:
            self._relay.tested.emit(job, name, models, message)
        except RuntimeError:  # the dialog was deleted meanwhile
            pass

    @Slot(int, str, object, str)
    def _on_tested(self, job: int, name: str, models: list[str], message: str) -> None:
        if job != self._job:
            return  # an older test's answer
        self._update_buttons()
        if message:
            text = in_window_words(message)
        elif models:
            text = (f"{name} answers with {len(models)} model{'' if len(models) == 1 else 's'}: "
                    + ", ".join(models[:20]) + (" …" if len(models) > 20 else ""))
        else:
            text = f"{name} answers, but lists no models."
        self.result_label.setText(text)
        self.testFinished.emit(name, text)

    def use_selected(self) -> bool:
        name = self.selected_name()
        if not name or self._selected_refusal() or self._use is None:
            return False
        conn = Remotes(self.paths.config).get(name)
        target = RemoteTarget(name, conn.model if conn else "")
        if not self._use(target):
            self.result_label.setText("The window is busy (loading or answering); try again when "
                                      "it has finished.")
            return False
        self.useRequested.emit(target)
        self.accept()
        return True

    def done(self, result: int) -> None:
        self._closed.set()
        super().done(result)


def open_remotes_dialog(parent: QWidget, paths: Paths, policy: Policy,
                        use: Callable[[RemoteTarget], bool]) -> None:
    dialog = RemotesDialog(paths, policy, parent, use)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
