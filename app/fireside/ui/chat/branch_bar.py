"""The small row under a message: "‹ 2/3 ›" to switch between versions, and Edit or Regenerate.

Editing a question or regenerating a reply keeps the old version as a sibling branch; this bar is
how a person gets back to it. The arrows only appear when there is more than one version, so a
plain conversation stays uncluttered.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from fireside.ui.look.style import scaled_font


def _button(text: str, name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setObjectName(name)
    button.setAccessibleName(tip)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class BranchBar(QWidget):
    stepRequested = Signal(int)  # -1 previous version, +1 next
    actionRequested = Signal()  # edit (user message) or regenerate (reply)
    deleteRequested = Signal()

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.previous = _button("‹", "branchPrevious", "Show the previous version")
        self.next = _button("›", "branchNext", "Show the next version")
        self.position = QLabel()
        self.position.setObjectName("branchPosition")
        self.position.setAccessibleName("Version")
        if role == "user":
            self.action = _button("Edit", "editButton", "Edit this message and ask again")
        else:
            self.action = _button("Regenerate", "regenerateButton", "Write a new version of this reply")
        self.delete = _button("Delete", "deleteButton", "Delete this message and what follows it")
        for w in (self.previous, self.next, self.position, self.action, self.delete):
            w.setFont(scaled_font(self, 0.85))
        # Hidden while streaming, but keeping their room: a reply's layout must not change its
        # minimum width when it finishes, or Qt re-measures every line of a long reply at the
        # new width (that was a 400 ms pause at the end of a 50,000-token reply).
        for w in (self.action, self.delete) if role == "assistant" else ():
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.previous)
        layout.addWidget(self.position)
        layout.addWidget(self.next)
        layout.addWidget(self.action)
        layout.addWidget(self.delete)
        self.previous.clicked.connect(lambda: self.stepRequested.emit(-1))
        self.next.clicked.connect(lambda: self.stepRequested.emit(1))
        self.action.clicked.connect(self.actionRequested.emit)
        self.delete.clicked.connect(self.deleteRequested.emit)
        self.set_branch((1, 1))

    def set_branch(self, branch: tuple[int, int] | None, busy: bool = False) -> None:
        """Show "position/count"; arrows and the action are hidden while a reply streams."""
        position, count = branch or (1, 1)
        several = count > 1
        self.position.setText(f"{position}/{count}")
        self.position.setAccessibleDescription(f"Version {position} of {count}")
        for w in (self.previous, self.position, self.next):
            w.setVisible(several)
        self.previous.setEnabled(position > 1 and not busy)
        self.next.setEnabled(position < count and not busy)
        self.action.setVisible(not busy)
        self.delete.setVisible(not busy)
