"""Where the user writes: a growing text box, the reasoning-effort picker and Send / Stop.

Enter sends and Shift+Enter starts a new line, as in every chat app. While a reply streams the
button turns into Stop; the box stays editable so the next message can be drafted meanwhile.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.chat.conversation import AdapterUse, Effort
from fireside.ui import wording
from fireside.ui.chat.adapter_scales import AdapterPopup
from fireside.ui.look.style import repolish

MAX_VISIBLE_LINES = 8
BASE_TEXT_ROLE = Qt.ItemDataRole.UserRole + 1  # an effort's own name, before any policy note


class Mode(Enum):
    NO_MODEL = "no-model"
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    STOPPING = "stopping"


class PromptEdit(QPlainTextEdit):
    """Plain-text box that reports Enter as `submitted` and grows with its content."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prompt")
        self.setAccessibleName("Message")
        self.setTabChangesFocus(True)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        if enter:  # Shift+Enter: a plain newline, not a paragraph-separator character
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self._fit_height()  # the stylesheet's border and padding change the frame

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_height()

    def _fit_height(self, *_: object) -> None:
        # QPlainTextEdit's document height is measured in lines, not pixels.
        wanted = max(1, round(self.document().size().height()))
        lines = min(MAX_VISIBLE_LINES, wanted)
        self.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAsNeeded
            if wanted > MAX_VISIBLE_LINES
            else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        margins = self.contentsMargins()  # border + padding once the stylesheet is applied
        frame = margins.top() + margins.bottom() + 2 * self.document().documentMargin()
        self.setFixedHeight(round(lines * self.fontMetrics().lineSpacing() + frame + 4))


class Composer(QFrame):
    sendRequested = Signal(str)
    stopRequested = Signal()
    effortChanged = Signal(object)  # Effort
    adaptersEdited = Signal(object)  # tuple[AdapterUse, ...]: the person changed a scale or removed one

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAccessibleName("Message composer")
        self._mode = Mode.NO_MODEL

        self.text_edit = PromptEdit()
        self.text_edit.setToolTip(wording.COMPOSER_TOOLTIP)
        self.text_edit.submitted.connect(self._submit)
        self.text_edit.textChanged.connect(self._update_send_enabled)

        self.effort_label = QLabel(wording.EFFORT_LABEL)
        self.effort_combo = QComboBox()
        self.effort_combo.setObjectName("effortCombo")
        self.effort_combo.setAccessibleName("Reasoning effort")
        self.effort_combo.setToolTip(wording.EFFORT_TOOLTIP)
        for label, value in wording.EFFORT_CHOICES:
            self.effort_combo.addItem(label, value)
        self.effort_combo.setCurrentIndex(1)
        self.effort_label.setBuddy(self.effort_combo)
        self.effort_combo.currentIndexChanged.connect(
            lambda _i: self.effortChanged.emit(self.effort())
        )

        self.send_button = QPushButton(wording.SEND)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.send_button.clicked.connect(self._on_button)

        # The LoRA adapters the next replies use (a preset's, or Models ▸ Use in this chat), shown
        # only when there are some; clicking it opens their scales (and Remove) in a popup
        self.adapters_button = QToolButton()
        self.adapters_button.setObjectName("adaptersButton")
        self.adapters_button.setAccessibleName("Active adapters")
        self.adapters_button.setCursor(Qt.CursorShape.PointingHandCursor)
        # a small arrow after the names says it opens something (the popup opens upwards)
        self.adapters_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_ArrowUp))
        self.adapters_button.setIconSize(QSize(10, 10))
        self.adapters_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.adapters_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.adapters_button.clicked.connect(self.open_adapters)
        self.adapters_button.hide()
        self.adapter_popup = AdapterPopup(self)
        self.adapter_popup.scales.changed.connect(self._on_scales_edited)
        self._adapters: tuple[AdapterUse, ...] = ()
        # The JSON Schema the next answers follow (a preset's), shown only when there is one
        self.json_label = QLabel(wording.JSON_ANSWER)
        self.json_label.setObjectName("jsonAnswerLabel")
        self.json_label.setAccessibleName("Answers in JSON")
        self.json_label.hide()
        self._json_schema: dict[str, Any] | None = None
        self._checking_adapters = False  # a preset's adapters are being checked: send waits

        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(self.effort_label)
        controls.addWidget(self.effort_combo)
        controls.addWidget(self.adapters_button)
        controls.addWidget(self.json_label)
        controls.addStretch(1)
        controls.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 12)
        layout.setSpacing(8)
        layout.addWidget(self.text_edit)
        layout.addLayout(controls)
        self._effort_supported = True
        self._allowed_efforts: tuple[str, ...] | None = None
        self._policy_tip = ""
        self.set_mode(Mode.NO_MODEL)

    # State

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        self._mode = mode
        has_model = mode not in (Mode.NO_MODEL, Mode.LOADING)
        self.text_edit.setEnabled(has_model)
        self.text_edit.setPlaceholderText(
            {Mode.NO_MODEL: wording.PLACEHOLDER_NO_MODEL, Mode.LOADING: wording.PLACEHOLDER_LOADING}
            .get(mode, wording.PLACEHOLDER_READY)
        )
        busy = mode in (Mode.GENERATING, Mode.STOPPING)
        self.send_button.setText(
            {Mode.GENERATING: wording.STOP, Mode.STOPPING: wording.STOPPING}.get(mode, wording.SEND)
        )
        self.send_button.setAccessibleName("Stop generating" if busy else "Send message")
        self.send_button.setProperty("stop", busy)
        repolish(self.send_button)
        self._update_send_enabled()

    def _update_send_enabled(self) -> None:
        if self._mode == Mode.GENERATING:
            self.send_button.setEnabled(True)
        elif self._mode == Mode.READY:
            self.send_button.setEnabled(bool(self.text_edit.toPlainText().strip())
                                        and not self._checking_adapters)
        else:
            self.send_button.setEnabled(False)

    def effort(self) -> Effort:
        return Effort(self.effort_combo.currentData())

    def adapters(self) -> tuple[AdapterUse, ...]:
        return self._adapters

    @property
    def adapters_label(self) -> QToolButton:
        """The indicator (a button since its scales can be changed; kept under its first name)."""
        return self.adapters_button

    def set_adapters(self, adapters: tuple[AdapterUse, ...]) -> None:
        """The LoRA adapters for the next replies; the button names them (hidden when none)."""
        self._adapters = tuple(adapters)
        self._checking_adapters = False
        self._show_adapters()
        self.adapter_popup.scales.set_uses(self._adapters)
        if not self._adapters:
            self.adapter_popup.hide()
        self._update_send_enabled()

    def _show_adapters(self) -> None:
        labels = tuple(a.label for a in self._adapters)
        self.adapters_button.setEnabled(True)
        self.adapters_button.setText(wording.adapters_text(labels).replace("&", "&&") if labels else "")
        self.adapters_button.setToolTip(wording.ADAPTERS_TOOLTIP.format(
            files="\n".join(f"{a.path} (scale {a.scale:g})" for a in self._adapters)))
        self.adapters_button.setVisible(bool(labels))

    def open_adapters(self) -> None:
        """Show the adapters' scales and Remove in a popup above the button."""
        if self._adapters and not self._checking_adapters:
            self.adapter_popup.show_above(self.adapters_button)

    def _on_scales_edited(self) -> None:
        self._adapters = self.adapter_popup.scales.uses()
        self._show_adapters()
        if not self._adapters:
            self.adapter_popup.hide()
            self.focus_input()
        self.adaptersEdited.emit(self._adapters)

    def set_adapters_checking(self, adapters: tuple[AdapterUse, ...]) -> None:
        """No adapters yet: these are being checked against the organisation's list, so the
        button says so (and cannot be opened) and sending waits until `set_adapters` gives the
        outcome."""
        self.set_adapters(())
        self._checking_adapters = True
        names = tuple(a.label for a in adapters)
        self.adapters_button.setText(wording.ADAPTERS_CHECKING.format(
            adapters=wording.adapters_text(names)).replace("&", "&&"))
        self.adapters_button.setToolTip(wording.ADAPTERS_CHECKING_TOOLTIP)
        self.adapters_button.setEnabled(False)
        self.adapters_button.setVisible(True)
        self._update_send_enabled()

    @property
    def checking_adapters(self) -> bool:
        return self._checking_adapters

    def json_schema(self) -> dict[str, Any] | None:
        return self._json_schema

    def set_json_schema(self, schema: dict[str, Any] | None) -> None:
        """The JSON Schema the next answers follow; the label says so (hidden when none)."""
        self._json_schema = schema
        self.json_label.setToolTip(wording.json_answer_tooltip(schema) if schema else "")
        self.json_label.setVisible(schema is not None)

    def set_effort(self, effort: Effort) -> None:
        self.effort_combo.setCurrentIndex(max(0, self.effort_combo.findData(effort.value)))

    def set_allowed_efforts(self, allowed: tuple[str, ...] | None, reason: str = "") -> None:
        """Admin policy: efforts outside `allowed` are greyed out; one left locks the picker."""
        self._allowed_efforts, self._policy_tip = allowed, reason
        items = self.effort_combo.model()
        assert isinstance(items, QStandardItemModel)  # a QComboBox's own model
        for i in range(self.effort_combo.count()):
            item = items.item(i)
            base = item.data(BASE_TEXT_ROLE) or item.text()
            item.setData(base, BASE_TEXT_ROLE)
            ok = allowed is None or self.effort_combo.itemData(i) in allowed
            item.setEnabled(ok)
            # greyed out alone would look broken: say who turned it off, in the list itself
            item.setText(base if ok else wording.EFFORT_NOT_ALLOWED.format(effort=base))
            item.setToolTip("" if ok else reason or wording.MANAGED)
        if allowed and self.effort().value not in allowed:
            self.set_effort(Effort(allowed[0]))
        self.set_effort_supported(self._effort_supported)

    def set_effort_supported(self, supported: bool) -> None:
        """Non-harmony models have no reasoning effort: keep the picker visible but explain why."""
        self._effort_supported = supported
        allowed = self._allowed_efforts
        locked = allowed is not None and len(allowed) == 1
        self.effort_combo.setEnabled(supported and not locked)
        self.effort_label.setEnabled(supported and not locked)
        tip = wording.EFFORT_TOOLTIP if supported else wording.EFFORT_UNSUPPORTED
        if supported and allowed is not None:
            tip = self._policy_tip or wording.MANAGED
        self.effort_combo.setToolTip(tip)
        self.effort_label.setToolTip(tip)

    def focus_input(self) -> None:
        self.text_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    # Actions

    def _submit(self) -> None:
        text = self.text_edit.toPlainText()
        if self._mode != Mode.READY or not text.strip() or self._checking_adapters:
            return
        self.text_edit.clear()
        self.sendRequested.emit(text.strip())

    def _on_button(self) -> None:
        if self._mode == Mode.GENERATING:
            self.stopRequested.emit()
        else:
            self._submit()
