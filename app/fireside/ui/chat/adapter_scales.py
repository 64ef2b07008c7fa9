"""How strongly each LoRA adapter applies: one row per adapter with its name, a scale spin box and
Remove. The preset editor shows it in a group box; the composer shows it in a popup under its
"LoRA …" button, for the open chat's next replies.

An adapter the organisation's allowed_adapters does not let apply (checked by file name only, so
nothing is hashed on the GUI thread; a pinned entry is checked on the content when the adapter is
applied) is shown locked: its scale cannot be changed, the row says why, and `uses()` leaves it
out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.chat.conversation import AdapterUse
from fireside.ui import wording

SCALE_MAX = 2.0
SCALE_STEP = 0.05


def scale_spin(value: float) -> QDoubleSpinBox:
    """0 (shown as "Off") to 2 in steps of 0.05; a bigger scale given on the command line or in a
    hand-edited preset widens the range rather than being cut down without a word."""
    spin = QDoubleSpinBox()
    spin.setRange(0.0, max(SCALE_MAX, value))
    spin.setDecimals(2)
    spin.setSingleStep(SCALE_STEP)
    spin.setPrefix("×")
    spin.setSpecialValueText(wording.ADAPTER_SCALE_OFF)
    spin.setValue(value)
    spin.setToolTip(wording.ADAPTER_SCALE_TOOLTIP)
    spin.setKeyboardTracking(False)  # typing "0.8" is one change, not "0" then "0.8"
    return spin


class AdapterScales(QWidget):
    """The adapters as rows (name, scale, Remove); `changed` after the person edits one."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None,
                 refusal: Callable[[str], str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adapterScales")
        self.setAccessibleName("LoRA adapters and their scales")
        self._refusal = refusal or (lambda _path: "")
        self._uses: list[AdapterUse] = []
        self._refused: dict[str, str] = {}
        self.spins: list[QDoubleSpinBox] = []
        self.remove_buttons: list[QToolButton] = []
        self.name_labels: list[QLabel] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        self._grid.setColumnStretch(0, 1)

    def set_uses(self, uses: tuple[AdapterUse, ...]) -> None:
        """Show these adapters (any edit under way is replaced)."""
        self._uses = list(uses)
        self._refused = {u.path: r for u in self._uses if (r := self._refusal(u.path))}
        self._rebuild()

    def uses(self) -> tuple[AdapterUse, ...]:
        """The adapters with the scales as set, leaving out those the organisation refuses."""
        return tuple(u for u in self._uses if u.path not in self._refused)

    def _rebuild(self) -> None:
        while (item := self._grid.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.hide()
                widget.deleteLater()
        self.spins, self.remove_buttons, self.name_labels = [], [], []
        for row, use in enumerate(self._uses):
            name = use.name
            refusal = self._refused.get(use.path, "")
            label = QLabel(wording.ADAPTER_NOT_ALLOWED.format(name=name) if refusal else name)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setToolTip(refusal or use.path)
            spin = scale_spin(use.scale)
            spin.setAccessibleName(wording.ADAPTER_SCALE_NAME.format(name=name))
            label.setBuddy(spin)
            if refusal:
                spin.setEnabled(False)
                spin.setToolTip(refusal)
            spin.valueChanged.connect(partial(self._set_scale, row))
            remove = QToolButton()
            remove.setText(wording.ADAPTER_REMOVE)
            remove.setAccessibleName(wording.ADAPTER_REMOVE_NAME.format(name=name))
            remove.setToolTip(wording.ADAPTER_REMOVE_TOOLTIP)
            remove.clicked.connect(partial(self._remove, row))
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(spin, row, 1)
            self._grid.addWidget(remove, row, 2)
            self.name_labels.append(label)
            self.spins.append(spin)
            self.remove_buttons.append(remove)

    def _set_scale(self, row: int, value: float) -> None:
        self._uses[row] = replace(self._uses[row], scale=round(value, 2))
        self.changed.emit()

    def _remove(self, row: int, _checked: bool = False) -> None:
        focus = self.remove_buttons[row - 1] if row > 0 else None
        del self._uses[row]
        self._rebuild()
        if self.remove_buttons:  # keep the keyboard in the list
            (focus if focus is not None else self.remove_buttons[0]).setFocus()
        self.changed.emit()


class AdapterPopup(QFrame):
    """The composer's popup: the open chat's adapters with their scales, and where to add more.
    It closes like a menu (Esc, or a click elsewhere); every change applies at once."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("adapterPopup")
        self.setAccessibleName("LoRA adapters for this chat")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        title = QLabel(wording.ADAPTER_POPUP_TITLE)
        title.setObjectName("adapterPopupTitle")
        title.setWordWrap(True)
        self.scales = AdapterScales(self)
        hint = QLabel(wording.ADAPTER_POPUP_HINT)
        hint.setObjectName("adapterPopupHint")
        hint.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(self.scales)
        layout.addWidget(hint)
        self.setMinimumWidth(420)

    def show_above(self, anchor: QWidget) -> None:
        """Open just above `anchor` (the composer sits at the bottom of the window), its left
        edge with the anchor's, focus on the first scale."""
        self.adjustSize()
        corner = anchor.mapToGlobal(QPoint(0, 0))
        y = corner.y() - self.height() - 4
        screen = anchor.screen().availableGeometry()
        if y < screen.top():  # no room above: below it
            y = corner.y() + anchor.height() + 4
        x = max(screen.left(), min(corner.x(), screen.right() - self.width()))
        self.move(x, y)
        self.show()
        if self.scales.spins:
            self.scales.spins[0].setFocus(Qt.FocusReason.PopupFocusReason)
