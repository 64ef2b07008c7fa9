"""The model manager's LoRA adapters: listed with what they are, imported, removed.

Reading an adapter's header, checking it as the CLI's `models import --adapter` does, and hashing
it for a pinned allowed_adapters entry all happen on a one-thread pool (`AdapterJobs`), handed
an immutable snapshot and a job number; results come back as queued signals and a listing from
an older request is dropped. Removing asks first, then unlinks one file (the link only, for a
linked adapter).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.model_access import adapter_refusal
from fireside.core.admin.policy import Policy, load_policy
from fireside.core.config.paths import Paths
from fireside.core.models.adapters import (
    AdapterError,
    AdapterInfo,
    import_adapter,
    list_adapters,
    read_adapter,
    remove_adapter,
)
from fireside.core.units import human_bytes
from fireside.ui.models.tables import read_only_table

COLUMNS = ("Adapter", "Made for", "Rank", "Alpha", "Size", "Adapts")
EMPTY = ("No LoRA adapters yet. Import one you made (llama.cpp's convert_lora_to_gguf.py or "
         "Unsloth's GGUF export), or download one: tick “LoRA adapter” above, give its repo and "
         "file, and press Download.")
PATH_ROLE = Qt.ItemDataRole.UserRole


def _expert_note(info: AdapterInfo) -> str:
    return " (and the experts)" if info.adapts_experts else ""


class _Job(QRunnable):
    def __init__(self, owner: AdapterJobs, job: int, folder: Path,
                 source: Path | None = None, copy: bool = False,
                 policy: Policy | None = None, cache: Path | None = None) -> None:
        super().__init__()
        self._owner, self._job, self._folder = owner, job, folder
        self._source, self._copy, self._policy, self._cache = source, copy, policy, cache

    def run(self) -> None:
        if self._source is not None:
            self._owner._imported.emit(*self._import(self._source))
        self._owner._listed.emit(self._job, list_adapters(self._folder))

    def _import(self, source: Path) -> tuple[bool, str]:
        try:
            read_adapter(source)  # a clear refusal before the policy hashes anything
            assert self._policy is not None and self._cache is not None
            if refusal := adapter_refusal(source, self._policy, self._cache):
                return False, f"Not imported: {refusal}"
            dest, info = import_adapter(self._folder, source, copy=self._copy)
        except AdapterError as e:
            return False, f"Not imported: {e}"
        except OSError as e:
            return False, f"Not imported: {source.name} cannot be read ({e.strerror or e})."
        how = "Copied" if self._copy else "Linked"
        return True, (f"{how} the adapter {info.name}: LoRA for {info.architecture}, rank "
                      f"{info.rank}, adapts {', '.join(info.targets)}{_expert_note(info)}. "
                      f"Installed as “{dest.stem}”.")


class AdapterJobs(QObject):
    """Lists and imports adapters on a one-thread pool; emits on the GUI thread."""

    listed = Signal(object)  # list[tuple[Path, AdapterInfo | AdapterError]]
    imported = Signal(bool, str)  # ok, a sentence for the person

    _listed = Signal(int, object)
    _imported = Signal(bool, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._listed.connect(self._on_listed)
        self._imported.connect(self.imported)

    def scan(self, folder: Path) -> None:
        self._job += 1
        self._pool.start(_Job(self, self._job, folder))

    def import_file(self, folder: Path, source: Path, *, copy: bool, policy: Policy,
                    cache: Path) -> None:
        """Check `source` as an adapter and against the policy, add it, then list again."""
        self._job += 1
        self._pool.start(_Job(self, self._job, folder, source, copy, policy, cache))

    @Slot(int, object)
    def _on_listed(self, job: int, rows: list[tuple[Path, AdapterInfo | AdapterError]]) -> None:
        if job == self._job:
            self.listed.emit(rows)

    def shutdown(self) -> None:
        self._job += 1
        self._pool.waitForDone()


class AdaptersPanel(QWidget):
    """The installed adapters as a table, with Import and Remove."""

    listed = Signal()  # the table shows what the folder holds
    adapterChosen = Signal(str)  # "Use in this chat": the adapter's path
    imported = Signal(bool, str)  # after the table was told; ok, the sentence shown

    def __init__(self, paths: Paths, parent: QWidget | None = None, *, can_use: bool = False) -> None:
        super().__init__(parent)
        self._paths = paths
        self._usable: set[str] = set()  # paths of the listed adapters that can be applied
        self._jobs = AdapterJobs(self)
        self._jobs.listed.connect(self._on_listed)
        self._jobs.imported.connect(self._on_imported)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = read_only_table(0, COLUMNS)
        self.table.setObjectName("adaptersTable")
        self.table.setAccessibleName("Installed LoRA adapters")
        layout.addWidget(self.table)
        self.empty_label = QLabel(EMPTY)
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        self.status = QLabel("")
        self.status.setObjectName("adaptersStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.import_button = QPushButton("Import an adapter…")
        self.remove_button = QPushButton("Remove adapter")
        self.use_button = QPushButton("Use in this chat")
        self.use_button.setToolTip("Apply this adapter (at scale 1) to the next replies of the "
                                   "open chat; change its scale from the LoRA button under the "
                                   "message box, and save the chat's settings as a preset to keep "
                                   "it.")
        self.use_button.setVisible(can_use)
        self.copy_check = QCheckBox("Copy into the adapters folder (otherwise link it in place)")
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.copy_check)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.import_button.clicked.connect(self.choose_import)
        self.remove_button.clicked.connect(self.remove_selected)
        self.use_button.clicked.connect(self._use_selected)
        self.table.itemDoubleClicked.connect(lambda _item: self._use_selected())
        self.table.itemSelectionChanged.connect(self._update_remove)
        self._update_remove()
        self.refresh()

    # -- listing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the adapters folder off the GUI thread; `listed` follows."""
        self._jobs.scan(self._paths.adapters)

    @Slot(object)
    def _on_listed(self, rows: list[tuple[Path, AdapterInfo | AdapterError]]) -> None:
        selected = self.selected_path()
        self._usable = {str(path) for path, info in rows if isinstance(info, AdapterInfo)}
        self.table.setRowCount(len(rows))
        for row, (path, info) in enumerate(rows):
            if isinstance(info, AdapterInfo):
                cells = (path.name, info.architecture, str(info.rank), f"{info.alpha:g}",
                         human_bytes(info.size), ", ".join(info.targets) + _expert_note(info))
                tip = f"{path}\n{info.summary()}"
            else:
                cells = (path.name, "can't be used", "", "", "", str(info))
                tip = f"{path}\n{info}"
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                item.setData(PATH_ROLE, str(path))
                self.table.setItem(row, col, item)
            if str(path) == selected:
                self.table.selectRow(row)
        self.empty_label.setVisible(not rows)
        self._update_remove()
        self.listed.emit()

    def selected_path(self) -> str | None:
        items = self.table.selectedItems()
        return str(items[0].data(PATH_ROLE)) if items else None

    def _update_remove(self) -> None:
        selected = self.selected_path()
        self.remove_button.setEnabled(selected is not None)
        self.use_button.setEnabled(selected in self._usable)

    def _use_selected(self) -> None:
        path = self.selected_path()
        if path in self._usable and not self.use_button.isHidden():
            self.adapterChosen.emit(path)

    # -- import and remove --------------------------------------------------------------------
    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a LoRA adapter", str(Path.home()),
                                              "GGUF LoRA adapters (*.gguf)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Checked and added off the GUI thread; `imported` says how it went."""
        self.status.setText(f"Checking {path.name}…")
        self.import_button.setEnabled(False)
        self._jobs.import_file(self._paths.adapters, path, copy=self.copy_check.isChecked(),
                               policy=load_policy(), cache=self._paths.cache)

    @Slot(bool, str)
    def _on_imported(self, ok: bool, message: str) -> None:
        self.import_button.setEnabled(True)
        self.status.setText(message)
        self.imported.emit(ok, message)

    def remove_selected(self) -> bool:
        path = self.selected_path()
        if path is None:
            return False
        name = Path(path).name
        linked = Path(path).is_symlink()
        what = ("Only the link in Fireside's adapters folder goes; your file stays where it is."
                if linked else "The file is deleted from Fireside's adapters folder.")
        answer = QMessageBox.question(
            self, "Remove adapter", f"Remove the adapter {name}? {what} Presets that use it will "
            "leave it out.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            remove_adapter(self._paths.adapters, name)
        except (AdapterError, OSError) as e:
            self.status.setText(f"Not removed: {e}")
            return False
        self.status.setText(f"Removed the adapter {name}.")
        self.refresh()
        return True

    def shutdown(self) -> None:
        self._jobs.shutdown()
