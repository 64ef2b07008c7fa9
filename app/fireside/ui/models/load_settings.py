"""The advanced load-settings panel: what the fit planner chose, and the knobs to overrule it.

Most people never open this. It shows the plan for the loaded (or selected) model, computed on a
worker by FitPlanner, and lets power users cap the context, set GPU layers, threads and flash
attention, or switch automatic fitting off. Offline mode lives here too. Nothing is applied to a
loaded model: the new settings take effect on the next load, and the panel says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import load_policy
from fireside.core.config.settings import Settings, effective_settings, lock_reason
from fireside.core.engine.protocol import ModelInfo, physical_cores
from fireside.core.models.fit_planner import Machine, Plan, describe_plan
from fireside.ui import wording
from fireside.ui.models.fit_planner_jobs import FitPlanner
from fireside.ui.shell.settings_controller import SettingsController

TITLE = "Advanced load settings"
AUTO_NOTE = ("Fireside measures this computer's memory and picks how much of the model goes on "
             "the graphics card, whether the mixture-of-experts weights stay in RAM, and the "
             "longest context that fits. Leave this on unless you know you need something else.")
OFFLINE_EXPLAINED = ("Offline mode: Fireside makes no network connections at all. Models you "
                     "have installed keep working; downloading new ones is switched off until "
                     "you turn this off again.")
APPLIES_NOTE = "Changes take effect the next time a model loads."
MAX_CONTEXT = 131_072


def _plan_text(plan: Plan) -> str:
    return "\n".join(f"{what}: {value}" for what, value in describe_plan(plan))


class LoadSettingsDialog(QDialog):
    """Edits a Settings snapshot; `settingsSaved` carries the result when the user presses Save."""

    settingsSaved = Signal(object)  # Settings
    planShown = Signal(str)  # the plan text, once it has been computed (or why it could not be)

    def __init__(self, settings: Settings, model_path: str | None = None,
                 parent: QWidget | None = None, *, loaded_ctx: int | None = None,
                 machine: Machine | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setMinimumWidth(640)
        self._settings = settings
        self._model_path = model_path
        self._loaded_ctx = loaded_ctx
        self._planner = FitPlanner(self, machine=machine)
        self._planner.planned.connect(self._on_planned)
        self._planner.planFailed.connect(self._on_plan_failed)
        self._build()
        self._load(settings)
        if model_path:
            self._planner.request([model_path], max_ctx=settings.n_ctx or None)

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        plan_box = QGroupBox("What Fireside chose for this computer")
        plan_layout = QVBoxLayout(plan_box)
        name = Path(self._model_path).name if self._model_path else ""
        self.plan_label = QLabel(
            f"Working out the plan for {name}…" if name else
            "No model is loaded or selected yet. Load one to see the plan Fireside picks for it.")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_reason = QLabel("")
        self.plan_reason.setWordWrap(True)
        self.plan_reason.setVisible(False)
        plan_layout.addWidget(self.plan_label)
        plan_layout.addWidget(self.plan_reason)
        layout.addWidget(plan_box)

        # Wrapped labels sit outside the form: a QFormLayout squeezes every row to make room for
        # them and clips the spin boxes.
        over = QGroupBox("Your overrides")
        over_layout = QVBoxLayout(over)
        self.auto_check = QCheckBox("Choose the setup automatically (recommended)")
        auto_note = QLabel(AUTO_NOTE)
        auto_note.setWordWrap(True)
        over_layout.addWidget(self.auto_check)
        over_layout.addWidget(auto_note)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        over_layout.addLayout(form)
        self.ctx_spin = QSpinBox()
        self.ctx_spin.setRange(0, MAX_CONTEXT)
        self.ctx_spin.setSingleStep(4096)
        self.ctx_spin.setSpecialValueText("Automatic (as long as fits)")
        self.ctx_spin.setSuffix(" tokens")
        form.addRow("Context length (at most):", self.ctx_spin)
        self.gpu_spin = QSpinBox()
        self.gpu_spin.setRange(-1, 999)
        self.gpu_spin.setSpecialValueText("All layers")
        self.gpu_spin.setSuffix(" layers")
        self.gpu_note = QLabel("")
        form.addRow("Layers on the GPU:", self.gpu_spin)
        form.addRow("", self.gpu_note)
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText(f"Automatic ({physical_cores()}, one per core)")
        form.addRow("CPU threads:", self.threads_spin)
        self.flash_check = QCheckBox("Use flash attention (faster, less memory; turn it off "
                                     "only if a model misbehaves)")
        self.flash_check.setToolTip(
            "On a computer without a GPU, turning it off makes the first answer of a new chat "
            "with many tools come sooner (on gpt-oss-20b with ten tools: about 1.8 s instead of "
            "2.1 s), but it needs much more memory as the context grows (about 0.7 GB more at "
            "8,192 tokens, 3.9 GB more at 32,768). Leave it on unless your contexts are short.")
        over_layout.addWidget(self.flash_check)
        layout.addWidget(over)
        self.auto_check.toggled.connect(self._sync_enabled)

        net = QGroupBox("Network")
        net_layout = QVBoxLayout(net)
        self.offline_check = QCheckBox("Offline mode")
        offline_note = QLabel(OFFLINE_EXPLAINED)
        offline_note.setWordWrap(True)
        net_layout.addWidget(self.offline_check)
        net_layout.addWidget(offline_note)
        layout.addWidget(net)
        self._apply_policy()

        applies = QLabel(APPLIES_NOTE)
        layout.addWidget(applies)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).setText(
            "Back to automatic")
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults)
        layout.addWidget(buttons)

    def _apply_policy(self) -> None:
        """Settings the organisation manages are shown, but greyed out with the reason."""
        self._policy = policy = load_policy()
        if reason := lock_reason("offline", policy):
            self.offline_check.setEnabled(False)
            self.offline_check.setToolTip(reason)
            self.offline_check.setText(f"Offline mode ({wording.MANAGED})")
        if reason := lock_reason("n_ctx", policy):
            ceiling = policy.get("max_context")
            self.ctx_spin.setRange(0, ceiling)
            self.ctx_spin.setSpecialValueText(f"Automatic (at most {ceiling:,}: {wording.MANAGED})")
            self.ctx_spin.setSuffix(f" tokens (your organisation allows at most {ceiling:,})")
            self.ctx_spin.setToolTip(f"At most {ceiling:,} tokens. {reason}")

    def _load(self, s: Settings) -> None:
        s = effective_settings(s, self._policy)
        self.auto_check.setChecked(s.auto_fit)
        self.ctx_spin.setValue(max(0, s.n_ctx))
        self.gpu_spin.setValue(s.n_gpu_layers)
        self.threads_spin.setValue(max(0, s.n_threads))
        self.flash_check.setChecked(s.flash_attn)
        self.offline_check.setChecked(s.offline)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        manual = not self.auto_check.isChecked()
        self.gpu_spin.setEnabled(manual)
        self.gpu_note.setText("0 keeps the whole model on the CPU." if manual else
                              "Chosen automatically while automatic setup is on.")

    def restore_defaults(self) -> None:
        d = Settings()
        self._load(self._settings.with_changes(auto_fit=d.auto_fit, n_ctx=d.n_ctx,
                                               n_gpu_layers=d.n_gpu_layers,
                                               n_threads=d.n_threads, flash_attn=d.flash_attn))

    def edited(self) -> Settings:
        return self._settings.with_changes(
            auto_fit=self.auto_check.isChecked(), n_ctx=self.ctx_spin.value(),
            n_gpu_layers=self.gpu_spin.value(), n_threads=self.threads_spin.value(),
            flash_attn=self.flash_check.isChecked(), offline=self.offline_check.isChecked())

    def save(self) -> None:
        self.settingsSaved.emit(self.edited())
        self.accept()

    @Slot(str, object)
    def _on_planned(self, path: str, plan: Plan) -> None:
        text = _plan_text(plan)
        if self._loaded_ctx:
            text += f"\nLoaded now with a {self._loaded_ctx:,}-token context."
        if not self._settings.auto_fit:
            text = ("Automatic setup is off, so the model loads with your overrides below. "
                    "This is what Fireside would pick:\n" + text)
        self.plan_label.setText(f"{Path(path).name}\n{text}")
        self.plan_reason.setText(plan.reason)
        self.plan_reason.setVisible(True)
        self._fit_height()
        self.planShown.emit(text)

    @Slot(str, str)
    def _on_plan_failed(self, path: str, message: str) -> None:
        text = f"Fireside could not work out a plan for {Path(path).name}: {message}"
        self.plan_label.setText(text)
        self._fit_height()
        self.planShown.emit(text)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to what the wrapped paragraphs need at this width (Qt sizes a dialog without
        height-for-width, and would squeeze the spin boxes instead)."""
        layout = self.layout()
        assert layout is not None  # set in __init__
        need = max(layout.totalHeightForWidth(self.width()), self.sizeHint().height())
        if need > self.height():
            self.resize(self.width(), need)

    def done(self, result: int) -> None:
        self._planner.shutdown()
        super().done(result)


def open_load_settings(parent: QWidget, settings: SettingsController, info: ModelInfo | None,
                       model_path: str | None = None,
                       on_saved: Callable[[Settings], None] | None = None) -> None:
    """Settings ▸ Advanced load settings…: plans the loaded model unless another path is given."""
    path = model_path or (info.path if info is not None else None)
    loaded_ctx = info.n_ctx if info is not None and info.path == path else None
    dialog = LoadSettingsDialog(settings.settings, path, parent, loaded_ctx=loaded_ctx)
    dialog.settingsSaved.connect(settings.update)
    if on_saved is not None:
        dialog.settingsSaved.connect(on_saved)
    dialog.exec()
