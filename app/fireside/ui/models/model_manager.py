"""The model manager dialog: the gpt-oss catalog with fit badges, downloads, imports, removal.

Everything slow happens on the DownloadService's thread; this dialog only turns signals into
text. Messages stay inline (no modal boxes) so a failed verify or a missing token reads as a
sentence next to the thing it is about. Nothing here touches the network until the user presses
Download, and in offline mode the Download button is off.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.model_access import adapter_name_refusal
from fireside.core.admin.policy import load_policy
from fireside.core.config.paths import Paths
from fireside.core.config.secrets import TokenStore
from fireside.core.config.settings import Settings, load_settings, save_settings
from fireside.core.models.catalog import CATALOG, CatalogEntry
from fireside.core.models.downloads import Progress
from fireside.core.models.fit_planner import GPT_OSS_20B, Machine, Plan, plan_fit
from fireside.core.models.folders import model_dirs
from fireside.core.models.hub import endpoint_from_env
from fireside.core.models.installed import InstalledModel, ModelError, import_model, remove_model
from fireside.core.units import human_bytes
from fireside.ui.models.adapters_panel import AdaptersPanel
from fireside.ui.models.download_worker import DownloadService
from fireside.ui.models.fit_planner_jobs import FitPlanner
from fireside.ui.models.load_settings import LoadSettingsDialog
from fireside.ui.models.tables import read_only_table
from fireside.ui.shell.settings_controller import SettingsController

TITLE = "Models"
COLUMNS = ("Model", "On this machine", "Size", "Quantization", "Context", "File")
FIT_COLUMN, FILE_COLUMN = 1, 5
OFFLINE_NOTE = ("Offline mode is on: Fireside makes no network calls. Installed models keep "
                "working; to download, turn offline mode off under Advanced settings.")
CHECKING = "Checking this computer…"
SHARED_ROLE = Qt.ItemDataRole.UserRole + 2  # True for a model in a read-only shared folder
SHARED_REMOVE_NOTE = ("This model is shared with everyone on this computer, so only an administrator "
                      "can remove it.")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f", about {seconds:.0f} s left"
    if seconds < 5400:
        return f", about {seconds / 60:.0f} min left"
    return f", about {seconds / 3600:.1f} h left"


def describe(p: Progress) -> str:
    """The line under the progress bar: bytes, speed and time left, or what is going on."""
    if p.phase == "downloading":
        if p.stalled:
            return (f"{human_bytes(p.done)} of {human_bytes(p.total)}: stalled, waiting for "
                    "data…")
        speed = f" at {human_bytes(p.speed)}/s" if p.speed > 0 else ""
        return f"{human_bytes(p.done)} of {human_bytes(p.total)}{speed}{_eta(p.eta_s)}"
    return p.message


class ModelManagerDialog(QDialog):
    modelChosen = Signal(str)
    adapterChosen = Signal(str)  # "Use in this chat" on an installed adapter
    # Re-emitted on the GUI thread after the dialog has updated itself (the worker's own signals
    # fire on the download thread).
    downloadProgressed = Signal(object)
    downloadFinished = Signal(str)
    downloadFailed = Signal(str, str)
    filesListed = Signal(str, list)

    installedPlanned = Signal(str, object)  # path, Plan: an installed model's badge is shown
    installedListed = Signal()  # the model folders were scanned and the list shows what is there
    advancedSaved = Signal(object)  # Settings, after the advanced panel saved them

    def __init__(self, paths: Paths, parent: QWidget | None = None, *,
                 machine: Machine | None = None, tokens: TokenStore | None = None,
                 settings: Callable[[], Settings] | None = None,
                 save: Callable[[Settings], None] | None = None, can_use_adapters: bool = False
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.resize(1100, 640)
        self._paths = paths
        self._tokens = tokens or TokenStore()
        # The main window owns the live Settings; standing alone, the dialog uses the file.
        self._can_use_adapters = can_use_adapters
        self._get_settings = settings or (lambda: load_settings(paths.settings_file))
        self._save_settings = save or (lambda s: save_settings(s, paths.settings_file))
        policy = load_policy()
        self._policy = policy
        self._policy_refusal = policy.download_refusal()  # the organisation's, if any
        self._dirs = model_dirs(paths, policy)  # the user's folder plus read-only shared ones
        self._offline = self._get_settings().offline or bool(self._policy_refusal)
        # Detecting the GPU loads llama.cpp and planning reads GGUF headers: both off the GUI
        # thread. Until the machine is known the badges say so.
        self._planner = FitPlanner(self, machine=machine)
        self._planner.machineDetected.connect(self._fill_badges)
        self._planner.planned.connect(self._on_installed_planned)
        self._planner.planFailed.connect(self._on_installed_plan_failed)
        self._planner.described.connect(self._on_installed_described)
        self._planner.listed.connect(self._on_listed)
        self._installed_items: dict[str, tuple[QListWidgetItem, str]] = {}  # path -> (item, text)
        self._listed_models: dict[str, InstalledModel] = {}
        self._service = DownloadService(paths)
        w = self._service.worker
        queued = Qt.ConnectionType.QueuedConnection  # run the handlers on the GUI thread, always
        w.progressed.connect(self._on_progress, queued)
        w.finished.connect(self._on_finished, queued)
        w.failed.connect(self._on_failed, queued)
        w.filesListed.connect(self._on_files, queued)
        w.adapterFinished.connect(self._on_adapter_finished, queued)
        self._active: tuple[str, str] | None = None
        self._build()
        self.refresh_installed()
        self._set_busy(False)

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.offline_label = QLabel(self._offline_text())
        self.offline_label.setWordWrap(True)
        self.offline_label.setVisible(self._offline)
        layout.addWidget(self.offline_label)

        self.table = read_only_table(len(CATALOG), COLUMNS)
        for row, entry in enumerate(CATALOG):
            cells = (entry.title, CHECKING, f"~{human_bytes(entry.approx_bytes)}",
                     entry.quantization, f"{entry.context_length:,} tokens",
                     entry.filename + ("" if entry.confirmed else " (unconfirmed)"))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{entry.repo_id}\n{entry.publisher_note}")
                self.table.setItem(row, col, item)
        if self._planner.machine is not None:
            self._fill_badges(self._planner.machine)
        self.table.selectRow(0)
        layout.addWidget(self.table)

        custom = QHBoxLayout()
        self.repo_edit = QLineEdit(placeholderText="Or any Hugging Face repo, e.g. owner/name-GGUF")
        self.file_edit = QLineEdit(placeholderText="file name, e.g. model-Q4_K_M.gguf")
        self.list_button = QPushButton("List its files")
        self.files_combo = QComboBox()
        self.files_combo.setVisible(False)
        self.adapter_download_check = QCheckBox("LoRA adapter")
        self.adapter_download_check.setToolTip(
            "The file is a LoRA adapter: it is verified the same way, then checked as an adapter "
            "and kept with your adapters.")
        custom.addWidget(self.repo_edit, 3)
        custom.addWidget(self.list_button)
        custom.addWidget(self.files_combo, 2)
        custom.addWidget(self.file_edit, 2)
        custom.addWidget(self.adapter_download_check)
        self.list_button.clicked.connect(self.list_repo_files)
        self.files_combo.activated.connect(
            lambda i: self.file_edit.setText(self.files_combo.itemData(i) or ""))
        layout.addLayout(custom)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel download")
        for b in (self.download_button, self.pause_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.download_button.clicked.connect(self.start_download)
        # Plain callables, not the worker's methods: a bound slot of a QObject living on the
        # download thread would be queued there, behind the transfer loop it is meant to stop.
        self.pause_button.clicked.connect(lambda: self._service.worker.pause())
        self.cancel_button.clicked.connect(lambda: self._service.worker.cancel())

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        # Installed models and LoRA adapters side by side, as tabs
        self.installed_tabs = QTabWidget()
        self.installed_tabs.setObjectName("installedTabs")
        models_page = QWidget()
        page = QVBoxLayout(models_page)
        self.installed = QListWidget()
        page.addWidget(self.installed)
        self.adapters = AdaptersPanel(self._paths, can_use=self._can_use_adapters)
        self.adapters.adapterChosen.connect(self.adapterChosen)
        self.adapters.listed.connect(self._count_adapters)
        self.installed_tabs.addTab(models_page, "Installed models")
        self.installed_tabs.addTab(self.adapters, "LoRA adapters")
        layout.addWidget(self.installed_tabs, 1)
        self.details_label = QLabel("Select an installed model to see its details.")
        self.details_label.setObjectName("modelDetails")
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label.setAccessibleName("Model details")
        page.addWidget(self.details_label)
        self.installed.currentItemChanged.connect(lambda *_: self._show_details())
        self.installed.currentItemChanged.connect(lambda *_: self._update_remove())
        buttons = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Load it with the setup shown in its badge; change that "
                                   "under Advanced settings.")
        self.remove_button = QPushButton("Remove")
        self.import_button = QPushButton("Import a GGUF file…")
        self.copy_check = QCheckBox("Copy into the models folder (otherwise link it in place)")
        self.advanced_button = QPushButton("Advanced settings…")
        for b in (self.use_button, self.remove_button, self.import_button):
            buttons.addWidget(b)
        buttons.addWidget(self.copy_check)
        buttons.addStretch(1)
        buttons.addWidget(self.advanced_button)
        page.addLayout(buttons)
        self.use_button.clicked.connect(self._use_selected)
        self.installed.itemDoubleClicked.connect(lambda _item: self._use_selected())
        self.advanced_button.clicked.connect(self.open_advanced)
        self.remove_button.clicked.connect(self._remove_selected)
        self.import_button.clicked.connect(self.choose_import)

    # -- downloads ----------------------------------------------------------------------------
    def selected_entry(self) -> CatalogEntry:
        return CATALOG[max(self.table.currentRow(), 0)]

    def _refused(self) -> bool:
        """Offline mode or the organisation's policy: say so in the status line instead."""
        refusal = self._offline_text()
        if refusal:
            self.status.setText(refusal)
        return bool(refusal)

    def start_download(self) -> None:
        if self._refused():
            return
        repo, name = self.repo_edit.text().strip(), self.file_edit.text().strip()
        if bool(repo) != bool(name):
            self.status.setText("Give both a repo (owner/name) and a file name, or pick from the list.")
            return
        adapter = self.adapter_download_check.isChecked()
        if not repo:
            if adapter:
                self.status.setText("Give the adapter's repo (owner/name) and file name: the "
                                    "catalog lists models only.")
                return
            entry = self.selected_entry()
            repo, name = entry.repo_id, entry.filename
        if adapter and (refusal := adapter_name_refusal(name, self._policy)):
            self.status.setText(refusal)
            return
        self._active = (repo, name)
        self._set_busy(True)
        self.status.setText(f"Asking the Hub about {name}…")
        request = (self._service.worker.adapterDownloadRequested if adapter
                   else self._service.worker.downloadRequested)
        request.emit(repo, name, endpoint_from_env(), self._tokens.get() or "")

    def list_repo_files(self) -> None:
        repo = self.repo_edit.text().strip()
        if self._refused():
            return
        if not repo:
            self.status.setText("Type a repo id first, like owner/name-GGUF.")
            return
        self.status.setText(f"Asking the Hub which GGUF files {repo} has…")
        self._service.worker.filesRequested.emit(repo, endpoint_from_env(), self._tokens.get() or "")

    @Slot(str, list)
    def _on_files(self, repo: str, files: list[tuple[str, int]]) -> None:
        self.files_combo.clear()
        for name, size in files:
            self.files_combo.addItem(f"{name} ({human_bytes(size)})", name)
        self.files_combo.setVisible(bool(files))
        if files:
            self.file_edit.setText(files[0][0])
            self.status.setText(f"{repo} has {len(files)} GGUF file(s); pick one and press Download.")
        else:
            self.status.setText(f"{repo} has no GGUF files.")
        self.filesListed.emit(repo, files)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(int(1000 * p.done / p.total) if p.total else 0)
        self.status.setText(describe(p))
        self.downloadProgressed.emit(p)

    @Slot(str)
    def _on_finished(self, path: str) -> None:
        self._set_busy(False)
        self.download_button.setText("Download")
        self.progress.setValue(1000)
        self.status.setText(f"Downloaded and verified: {Path(path).name}. It is ready to use.")
        self.refresh_installed()
        self.downloadFinished.emit(path)

    @Slot(str, str)
    def _on_adapter_finished(self, path: str, summary: str) -> None:
        self._set_busy(False)
        self.download_button.setText("Download")
        self.progress.setValue(1000)
        self.status.setText(f"Downloaded and verified the adapter {summary}.")
        self.installed_tabs.setCurrentWidget(self.adapters)
        self.adapters.refresh()
        self.downloadFinished.emit(path)

    def _count_adapters(self) -> None:
        n = self.adapters.table.rowCount()
        self.installed_tabs.setTabText(1, f"LoRA adapters ({n})" if n else "LoRA adapters")

    @Slot(str, str)
    def _on_failed(self, message: str, kind: str) -> None:
        self._set_busy(False)
        if kind == "paused":
            self.download_button.setText("Resume")
        elif kind == "verify":
            self.progress.setValue(0)  # the bad bytes are gone; do not show a full bar
            self.download_button.setText("Try again")
        elif kind == "cancelled":
            self.progress.setValue(0)
            self.download_button.setText("Download")
        self.status.setText(message)
        self.downloadFailed.emit(message, kind)
        if kind == "auth" and self._active is not None:
            self._ask_token(message)

    def _ask_token(self, why: str) -> None:
        token, ok = QInputDialog.getText(
            self, "Hugging Face token",
            f"{why}\n\nPaste a read token from huggingface.co/settings/tokens. "
            f"{self._tokens.status()}", QLineEdit.EchoMode.Password)
        if ok and token.strip():
            where = self._tokens.set(token)
            self.status.setText(f"{where} Retrying…")
            self.start_download()

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy and not self._offline)
        self.list_button.setEnabled(not self._offline)  # listing a repo asks the Hub too
        self.pause_button.setEnabled(busy)
        self.cancel_button.setEnabled(busy)

    # -- installed ----------------------------------------------------------------------------
    def refresh_installed(self) -> None:
        """Scan the model folders off the GUI thread; the list updates when `installedListed`."""
        self._planner.scan(self._dirs, self._paths.models, max_ctx=self._get_settings().n_ctx or None)

    @Slot(object, object)
    def _on_listed(self, models: list[InstalledModel], paused: list[str]) -> None:
        selected = self._selected_installed()
        self.installed.clear()
        self._installed_items = {}
        self._listed_models = {str(m.path): m for m in models}
        for m in models:
            origin = m.source.get("repo_id") or ("linked" if m.linked else "imported")
            if m.shared and m.folder is not None:
                origin = f"{m.folder.origin}, read-only"
            base = f"{m.name}  ·  {human_bytes(m.size)}  ·  {origin}"
            item = QListWidgetItem(f"{base}  ·  checking fit…")
            item.setData(Qt.ItemDataRole.UserRole, str(m.path))
            item.setData(SHARED_ROLE, m.shared)
            self.installed.addItem(item)
            self._installed_items[str(m.path)] = (item, base)
            if str(m.path) == selected:
                self.installed.setCurrentItem(item)
        for stem in paused:
            item = QListWidgetItem(f"{stem.split('--')[-1]}  ·  paused download: pick it "
                                   "in the list above and press Download to resume")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.installed.addItem(item)
        self._update_remove()
        self.installedListed.emit()

    @Slot(object)
    def _fill_badges(self, machine: Machine) -> None:
        plan = plan_fit(GPT_OSS_20B, machine)  # every catalog entry is gpt-oss-20b
        for row in range(self.table.rowCount()):
            item = self.table.item(row, FIT_COLUMN)
            assert item is not None  # every catalog row has its fit cell
            item.setText(plan.badge)
            item.setToolTip(plan.reason)

    @Slot(str, object)
    def _on_installed_planned(self, path: str, plan: Plan) -> None:
        if path in self._installed_items:
            item, base = self._installed_items[path]
            item.setText(f"{base}  ·  {plan.badge}")
            details = item.data(Qt.ItemDataRole.UserRole + 1) or ""
            item.setToolTip(f"{details}\n\n{plan.reason}".strip())
            self.installedPlanned.emit(path, plan)
            self._show_details()

    @Slot(str, str)
    def _on_installed_described(self, path: str, summary: str) -> None:
        if path in self._installed_items:
            self._installed_items[path][0].setData(Qt.ItemDataRole.UserRole + 1, summary)
            self._show_details()

    def _show_details(self) -> None:
        """The selected installed model's metadata, read from its header off the GUI thread."""
        item = self.installed.currentItem()
        text = item.data(Qt.ItemDataRole.UserRole + 1) if item is not None else None
        self.details_label.setText(text or "Select an installed model to see its details.")

    @Slot(str, str)
    def _on_installed_plan_failed(self, path: str, message: str) -> None:
        if path in self._installed_items:
            item, base = self._installed_items[path]
            item.setText(f"{base}  ·  can't be read")
            item.setToolTip(message)

    def open_advanced(self) -> None:
        dialog = LoadSettingsDialog(self._get_settings(), self._selected_installed(), self,
                                    machine=self._planner.machine)
        dialog.settingsSaved.connect(self._on_advanced_saved)
        dialog.exec()

    @Slot(object)
    def _on_advanced_saved(self, settings: Settings) -> None:
        self._save_settings(settings)
        self.set_offline(settings.offline)
        self.refresh_installed()  # a new context ceiling changes the plans
        self.advancedSaved.emit(settings)

    def _offline_text(self) -> str:
        return self._policy_refusal or (OFFLINE_NOTE if self._offline else "")

    def set_offline(self, offline: bool) -> None:
        self._offline = offline or bool(self._policy_refusal)
        self.offline_label.setText(self._offline_text())
        self.offline_label.setVisible(self._offline)
        self._set_busy(self.pause_button.isEnabled())  # a running transfer keeps running

    def _selected_installed(self) -> str | None:
        item = self.installed.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _use_selected(self) -> None:
        path = self._selected_installed()
        if path:
            self.modelChosen.emit(path)

    def _update_remove(self) -> None:
        item = self.installed.currentItem()
        shared = bool(item is not None and item.data(SHARED_ROLE))
        self.remove_button.setEnabled(item is not None and not shared)
        self.remove_button.setToolTip(SHARED_REMOVE_NOTE if shared else "")

    def _remove_selected(self) -> None:
        path = self._selected_installed()
        match = self._listed_models.get(path or "")  # as of the last scan: no disk walk here
        if match is None or match.folder is None:
            return
        if match.shared:
            self.status.setText(SHARED_REMOVE_NOTE)
            return
        remove_model(match.folder.path, match)
        self.status.setText(f"Removed {match.name}.")
        self.refresh_installed()

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> bool:
        try:
            _model, info = import_model(self._paths.models, path, copy=self.copy_check.isChecked())
        except ModelError as e:
            self.status.setText(str(e))
            return False
        self.status.setText(f"Imported {info.name} ({info.architecture}, {info.quantization}).")
        self.refresh_installed()
        return True

    def shutdown(self) -> None:
        """Pause any transfer (its part stays, so the next start resumes) and join the threads."""
        self._service.shutdown()
        self._planner.shutdown()
        self.adapters.shutdown()

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)


def open_model_manager(parent: QWidget, paths: Paths, settings: SettingsController,
                       load_model: Callable[[str], object],
                       use_adapter: Callable[[str], object] | None = None) -> None:
    """File ▸ Models…: modal, so the download thread is always joined when it closes."""
    dialog = ModelManagerDialog(paths, parent, settings=lambda: settings.settings, save=settings.update,
                                can_use_adapters=use_adapter is not None)

    def chosen(path: str) -> None:
        dialog.accept()
        load_model(path)

    dialog.modelChosen.connect(chosen)
    if use_adapter is not None:
        def adapter_chosen(path: str) -> None:
            dialog.accept()
            use_adapter(path)

        dialog.adapterChosen.connect(adapter_chosen)
    dialog.exec()
