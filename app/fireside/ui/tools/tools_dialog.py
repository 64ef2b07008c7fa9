"""Chat ▸ Tools…: the python tool and every MCP server of mcp.json, each tool on or off.

One tree: the python tool (with the isolations in force on this machine), then each server (its
transport and state, and why it failed or is blocked), its tools under it with a checkbox and
"always allow" (which can be revoked here). A server has its own on/off checkbox. Refresh
(re)connects the servers; the config row shows where mcp.json is, opens its folder or copies its
path; a malformed mcp.json is listed in words above the tree. What the organisation's policy
forbids is greyed out with its reason.

Every registry call runs on ToolsService's threads; this widget only renders snapshots. The choices
are stored in tools.json beside mcp.json, which the window's own registry rereads when it changes,
so a change here counts from the next message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths
from fireside.core.tools.defaults import build_registry
from fireside.core.tools.registry import ServerStatus, ToolEntry, ToolRegistry
from fireside.ui import wording
from fireside.ui.tools.tools_service import ServerView, ToolsService, ToolsSnapshot

KEY = Qt.ItemDataRole.UserRole
POLL_MS = 300  # while servers connect, how often the live state is fetched
COL_NAME, COL_STATE, COL_ALWAYS = 0, 1, 2
Key = tuple[str, ...]


class ToolsDialog(QDialog):
    snapshotShown = Signal()  # a snapshot was rendered (tests wait on it)
    connectFinished = Signal()  # a (re)connect pass ended and its result is shown

    def __init__(self, paths: Paths, policy: Policy | None = None, parent: QWidget | None = None,
                 make_registry: Callable[[], ToolRegistry] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(wording.TOOLS_TITLE)
        self.setObjectName("toolsDialog")
        self.resize(760, 560)
        self.paths = paths
        policy = load_policy() if policy is None else policy
        self.service = ToolsService(make_registry or (lambda: build_registry(paths, policy)), self)
        self.snapshot: ToolsSnapshot | None = None
        self._items: dict[Key, QTreeWidgetItem] = {}
        self._last_change = 0  # job number of the newest change asked for
        self._listing = 0  # job number of the newest listing asked for, until it arrives
        self._after_connect = 0  # the listing that shows a finished (re)connect pass
        self._connect_after = 0  # the change after which a (re)connect pass should begin
        self._refreshing = False  # a pass that asks every server again is under way
        self._build()
        self.service.snapshot.connect(self._on_snapshot)
        self.service.connected.connect(self._on_connected)
        self.service.failed.connect(self._show_status)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        self._listing = self.service.request_snapshot()  # what is known at once (nothing starts)
        self._connect(refresh=False)  # then start the servers that have no tool list yet

    # -- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        heading = QLabel(wording.TOOLS_HEADING)
        heading.setObjectName("dialogHeading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        heading.setFont(font)
        layout.addWidget(heading)
        intro = QLabel(wording.TOOLS_INTRO)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.policy_label = self._notice("toolsPolicy")
        layout.addWidget(self.policy_label)
        self.problems_label = self._notice("toolsProblems")
        layout.addWidget(self.problems_label)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels([wording.TOOLS_COL_NAME, wording.TOOLS_COL_STATE,
                                   wording.TOOLS_COL_ALWAYS])
        self.tree.setAccessibleName(wording.TOOLS_HEADING)
        header = self.tree.header()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_ALWAYS, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.tree.setWordWrap(True)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._show_details())
        layout.addWidget(self.tree, 1)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(self.fontMetrics().lineSpacing() * 3)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details)

        config_row = QHBoxLayout()
        self.config_label = QLabel()
        self.config_label.setWordWrap(True)
        self.config_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        config_row.addWidget(self.config_label, 1)
        self.open_folder_button = QPushButton(wording.TOOLS_OPEN_FOLDER)
        self.open_folder_button.clicked.connect(self.open_folder)
        config_row.addWidget(self.open_folder_button)
        self.copy_button = QPushButton(wording.TOOLS_COPY_PATH)
        self.copy_button.clicked.connect(self.copy_path)
        config_row.addWidget(self.copy_button)
        layout.addLayout(config_row)

        bottom = QHBoxLayout()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        bottom.addWidget(self.status_label, 1)
        self.refresh_button = QPushButton(wording.TOOLS_REFRESH)
        self.refresh_button.setToolTip(wording.TOOLS_REFRESH_TIP)
        self.refresh_button.clicked.connect(partial(self._connect, True))
        bottom.addWidget(self.refresh_button)
        self.close_button = QPushButton(wording.TOOLS_CLOSE)
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.accept)
        bottom.addWidget(self.close_button)
        layout.addLayout(bottom)
        self._show_config(str(self.paths.config / "mcp.json"), exists=False)

    def _notice(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setStyleSheet("QLabel { border: 1px solid palette(mid); border-radius: 4px; padding: 6px; }")
        label.hide()
        return label

    # -- requests --------------------------------------------------------------------------------
    def _connect(self, refresh: bool) -> None:
        self._refreshing = self._refreshing or refresh
        self.service.connect_servers(refresh)
        self._poll.start()
        self.refresh_button.setEnabled(False)
        self._show_status(wording.TOOLS_CONNECTING)

    def _change(self, action: Callable[[ToolRegistry], str]) -> None:
        self._last_change = self.service.change(action)

    @Slot()
    def _on_poll(self) -> None:
        if not self._listing:  # one listing at a time: a hung server must not pile them up
            self._listing = self.service.request_snapshot()

    @Slot(str)
    def _on_connected(self, message: str) -> None:
        if self.service.connecting:  # another pass was asked for meanwhile and has begun
            if message:
                self._show_status(message)
            return
        self._refreshing = False
        self._poll.stop()
        self.refresh_button.setEnabled(True)
        self._show_status(message)  # "" clears "Connecting…"; the next snapshot sums up
        self._after_connect = self._listing = self.service.request_snapshot()

    def open_folder(self) -> None:
        folder = self.paths.config
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.copy_path()
            self._show_status(wording.tools_folder_not_opened(str(folder)))

    def copy_path(self) -> None:
        path = self.snapshot.config_path if self.snapshot else str(self.paths.config / "mcp.json")
        QGuiApplication.clipboard().setText(path)
        self._show_status(wording.tools_path_copied(path))

    # -- results ---------------------------------------------------------------------------------
    @Slot(int, object, str)
    def _on_snapshot(self, seq: int, snap: ToolsSnapshot, message: str) -> None:
        if seq >= self._listing:
            self._listing = 0
        if seq < self._last_change:
            return  # taken before the user's newest change: it would undo the checkbox for a moment
        if self._connect_after and seq >= self._connect_after:
            # The server was turned on: connect only now that the change is applied, or the
            # connect pass could run first and find it still off.
            self._connect_after = 0
            self._connect(refresh=True)
        self.snapshot = snap
        self._render(snap)
        if message:
            self._show_status(message)
        self.snapshotShown.emit()
        if self._after_connect and seq >= self._after_connect:
            self._after_connect = 0
            if not message and not self.status_label.text():
                states = [v.status.state for v in snap.servers]
                self._show_status(wording.tools_connected(states.count("running"), states.count("failed")))
            self.connectFinished.emit()

    def _show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _show_config(self, path: str, exists: bool) -> None:
        self.config_label.setText(wording.tools_config_line(path, exists))

    def _render(self, snap: ToolsSnapshot) -> None:
        self._show_config(snap.config_path, snap.config_exists)
        self.policy_label.setVisible(bool(snap.tools_refusal))
        self.policy_label.setText(f"{wording.MANAGED}: {snap.tools_refusal}")
        self.problems_label.setVisible(bool(snap.problems))
        self.problems_label.setText(wording.tools_problems(snap.problems))
        rows = self._rows(snap)
        self.tree.blockSignals(True)
        try:
            if list(self._items) != [k for k, *_ in rows]:
                self._rebuild(rows)
            for key, _parent, fill in rows:
                fill(self._items[key])
        finally:
            self.tree.blockSignals(False)
        self._show_details()

    def _rebuild(self, rows: list[tuple[Key, Key | None, Callable[[QTreeWidgetItem], None]]]) -> None:
        collapsed = {k for k, item in self._items.items() if item.childCount() and not item.isExpanded()}
        current = self.tree.currentItem()
        current_key = current.data(COL_NAME, KEY) if current is not None else None
        self.tree.clear()
        self._items = {}
        for key, parent, _fill in rows:
            item = QTreeWidgetItem()
            item.setData(COL_NAME, KEY, key)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                self._items[parent].addChild(item)
            self._items[key] = item
        for key, item in self._items.items():
            item.setExpanded(key not in collapsed)
            if key == current_key:
                self.tree.setCurrentItem(item)

    def _rows(self, snap: ToolsSnapshot) -> list[tuple[Key, Key | None, Callable[[QTreeWidgetItem], None]]]:
        """Each row of the tree: its key, its parent's key, and how to fill it."""
        py = ("python",)
        rows: list[tuple[Key, Key | None, Callable[[QTreeWidgetItem], None]]] = [
            (py, None, partial(self._fill_python, snap.python))]
        for n, line in enumerate(snap.isolation.lines()):
            rows.append((("note", "python", str(n)), py, partial(_fill_note, line, False)))
        if snap.python.state != "on" and snap.python.reason:
            rows.append((("note", "python", "reason"), py,
                         partial(_fill_note, _reason(snap.python.state, snap.python.reason), True)))
        for view in snap.servers:
            s = view.status
            key = ("server", s.name)
            rows.append((key, None, partial(self._fill_server, view)))
            if s.error:
                rows.append((("note", s.name), key,
                             partial(_fill_note, _reason(s.state, s.error), True)))
            for t in view.tools:
                rows.append((("tool", s.name, t.name), key,
                             partial(self._fill_tool, t, s, snap.auto_approval_refusal)))
        return rows

    def _fill_python(self, e: ToolEntry, item: QTreeWidgetItem) -> None:
        item.setText(COL_NAME, wording.TOOLS_PYTHON)
        item.setText(COL_STATE, _state_words(e.state))
        changeable = e.state in ("on", "off")
        _set_check(item, COL_NAME, e.state == "on" if changeable else None)
        _enable(item, changeable)
        item.setToolTip(COL_NAME, e.reason or e.description)
        item.setToolTip(COL_STATE, e.reason)

    def _fill_server(self, view: ServerView, item: QTreeWidgetItem) -> None:
        s = view.status
        item.setText(COL_NAME, f"{s.name}  ({s.transport})")
        bold = QFont(item.font(COL_NAME))
        bold.setBold(True)
        item.setFont(COL_NAME, bold)
        waiting = self.service.connecting and s.state in ("not started", "stopped") and (
            self._refreshing or not s.tools)
        item.setText(COL_STATE, wording.TOOLS_WAITING if waiting else _server_state(s))
        blocked = s.state == "blocked by policy"
        _set_check(item, COL_NAME, None if blocked else s.state != "off")
        _enable(item, not blocked)
        item.setToolTip(COL_NAME, s.target)
        item.setToolTip(COL_STATE, s.error)

    def _fill_tool(self, t: ToolEntry, s: ServerStatus, auto_refusal: str, item: QTreeWidgetItem) -> None:
        item.setText(COL_NAME, t.tool)
        item.setText(COL_STATE, _state_words(t.state))
        changeable = t.state in ("on", "off")
        _set_check(item, COL_NAME, t.state == "on" if changeable else None)
        _enable(item, changeable)
        item.setToolTip(COL_NAME, f"{t.description}\n\n{wording.tools_model_name(t.name)}".strip())
        item.setToolTip(COL_STATE, t.reason)
        if auto_refusal:
            _set_check(item, COL_ALWAYS, None)
            item.setText(COL_ALWAYS, wording.TOOLS_ALWAYS_FORBIDDEN)
            item.setToolTip(COL_ALWAYS, auto_refusal)
        else:
            item.setText(COL_ALWAYS, wording.TOOLS_ALWAYS if t.always_allow else "")
            _set_check(item, COL_ALWAYS, t.always_allow if changeable else None)
            item.setToolTip(COL_ALWAYS, wording.TOOLS_ALWAYS_TIP if t.always_allow else "")

    def _show_details(self) -> None:
        item = self.tree.currentItem()
        key = item.data(COL_NAME, KEY) if item is not None else None
        snap = self.snapshot
        text = ""
        if snap is not None and key and key[0] == "python":
            text = "\n".join(x for x in (snap.python.description, snap.python.reason,
                                         wording.tools_isolation(snap.isolation.platform)) if x)
        elif snap is not None and key and key[0] in ("server", "tool"):
            view = next((v for v in snap.servers if v.status.name == key[1]), None)
            if view is not None and key[0] == "server":
                text = wording.tools_server_details(view.status.transport, view.status.target,
                                                    view.status.error)
            elif view is not None:
                t = next((t for t in view.tools if t.name == key[2]), None)
                if t is not None:
                    text = "\n".join(x for x in (t.description, wording.tools_model_name(t.name),
                                                 t.reason) if x)
        elif item is not None and key and key[0] == "note":
            text = item.text(COL_NAME)
        self.details.setText(text)

    # -- changes ---------------------------------------------------------------------------------
    @Slot(QTreeWidgetItem, int)
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        key = item.data(COL_NAME, KEY)
        on = item.checkState(column) == Qt.CheckState.Checked
        if key[0] == "python" and column == COL_NAME:
            self._change(partial(_set_python, on))
        elif key[0] == "server" and column == COL_NAME:
            self._change(partial(_set_server, key[1], on))
            if on:  # once that change is applied, list its tools afresh (see _on_snapshot)
                self._connect_after = self._last_change
        elif key[0] == "tool" and column == COL_NAME:
            self._change(lambda r: r.set_tool_enabled(key[2], on))
        elif key[0] == "tool" and column == COL_ALWAYS:
            self._change(lambda r: r.set_always_allow(key[2], on))

    # -- closing ---------------------------------------------------------------------------------
    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)

    def shutdown(self, wait: float = 0.0) -> None:
        """Stop polling and close the registry in the background (`wait` s at most, for tests)."""
        self._poll.stop()
        self.service.shutdown(wait)


def _set_python(on: bool, registry: ToolRegistry) -> str:
    registry.state.set_python_enabled(on)
    return ""


def _set_server(name: str, on: bool, registry: ToolRegistry) -> str:
    registry.set_server_enabled(name, on)
    return ""


def _set_check(item: QTreeWidgetItem, column: int, checked: bool | None) -> None:
    if checked is None:
        item.setData(column, Qt.ItemDataRole.CheckStateRole, None)
    else:
        item.setCheckState(column, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)


def _enable(item: QTreeWidgetItem, checkable: bool) -> None:
    """A row that cannot be changed stays selectable (its details show) but is drawn greyed."""
    flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
    if checkable:
        flags |= Qt.ItemFlag.ItemIsUserCheckable
    item.setFlags(flags)
    tree = item.treeWidget()
    if tree is not None:
        group = QPalette.ColorGroup.Active if checkable else QPalette.ColorGroup.Disabled
        brush = tree.palette().brush(group, QPalette.ColorRole.Text)
        for column in range(tree.columnCount()):
            item.setForeground(column, brush)


def _fill_note(text: str, emphasis: bool, item: QTreeWidgetItem) -> None:
    item.setText(COL_NAME, text)
    item.setFirstColumnSpanned(True)
    item.setToolTip(COL_NAME, text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    font = QFont(item.font(COL_NAME))
    font.setItalic(emphasis)
    item.setFont(COL_NAME, font)


def _reason(state: str, reason: str) -> str:
    return f"{wording.MANAGED}: {reason}" if state == "blocked by policy" else reason


def _state_words(state: str) -> str:
    return wording.TOOL_STATES.get(state, state)


def _server_state(s: ServerStatus) -> str:
    words = _state_words(s.state)
    if s.tools and s.state == "running":
        return f"{words} · {wording.tool_count(s.tools)}"
    if s.tools and s.state in ("not started", "stopped", "off"):
        cached = f" {wording.TOOLS_FROM_CACHE}" if s.tools_from_cache else ""
        return f"{words} · {wording.tool_count(s.tools)}{cached}"
    return words


def open_tools_dialog(parent: QWidget, paths: Paths, policy: Policy) -> ToolsDialog:
    """Chat ▸ Tools…: a window-modal dialog that deletes itself when closed."""
    dialog = ToolsDialog(paths, policy, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
