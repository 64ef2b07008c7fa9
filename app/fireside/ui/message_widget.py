"""One message in the transcript: a bubble with a collapsible reasoning block, answer and footer.

Model output is untrusted, so every label that shows it is forced to plain text: a reply that
contains HTML or markdown-link syntax is displayed, never interpreted, and links never open.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.events import ReplyStats

from . import wording
from .branch_bar import BranchBar
from .chat_model import ChatModel
from .chunked_text import ChunkedText
from .markdown import MARKDOWN_MAX_CHARS, open_link, render_markdown
from .style import repolish, scaled_font

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | (
    Qt.TextInteractionFlag.TextSelectableByKeyboard
)


def plain_label(object_name: str, parent: QWidget | None = None) -> QLabel:
    """A word-wrapping, selectable label that never interprets its text as rich text."""
    label = QLabel(parent)
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setOpenExternalLinks(False)
    label.setTextInteractionFlags(_SELECTABLE)
    # Ignored width: a long unbroken word must not widen the transcript past the window.
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(40)
    return label


class MessageWidget(QWidget):
    """Renders one ChatModel row; `update_from` re-reads it whenever that row changes."""

    activated = Signal()  # the user clicked somewhere on this message
    branchStepRequested = Signal(int)  # -1 / +1: show another version of this message
    branchActionRequested = Signal()  # edit (user) or regenerate (assistant)
    deleteRequested = Signal()

    def __init__(self, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self._user_toggled = False
        self._answer_started = False

        self.bubble = QFrame(self)
        self.bubble.setObjectName("bubble")
        self.bubble.setProperty("role", role)
        self.bubble.setProperty("selected", False)

        self.role_label = QLabel(wording.YOU if role == "user" else wording.ASSISTANT)
        self.role_label.setObjectName("roleLabel")
        self.role_label.setFont(scaled_font(self, 0.85, bold=True))

        self.reasoning_toggle = QToolButton()
        self.reasoning_toggle.setObjectName("reasoningToggle")
        self.reasoning_toggle.setAccessibleName("Show or hide the model's reasoning")
        self.reasoning_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.reasoning_toggle.setCheckable(True)
        self.reasoning_toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.reasoning_toggle.clicked.connect(self._on_toggle_clicked)
        self.reasoning_view = ChunkedText("reasoningText")  # grows while streaming; see chunked_text
        self.reasoning_view.setAccessibleName("Reasoning")

        self.answer_label = ChunkedText("answerText")
        self.answer_label.setAccessibleName("Your message" if role == "user" else "Reply")

        # Finished replies are shown as Markdown here (see markdown.py); answer_label keeps the
        # plain text for streaming, copying and user messages.
        self.markdown_label = QLabel()
        self.markdown_label.setObjectName("answerMarkdown")
        self.markdown_label.setTextFormat(Qt.TextFormat.RichText)
        self.markdown_label.setWordWrap(True)
        self.markdown_label.setOpenExternalLinks(False)
        self.markdown_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.markdown_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.markdown_label.setMinimumWidth(40)
        self.markdown_label.setAccessibleName("Reply")
        self.markdown_label.linkActivated.connect(open_link)
        self.markdown_label.hide()
        self._rendered: str | None = None

        self.error_label = plain_label("errorText")
        self.error_label.setAccessibleName("Error")

        self.footer_label = QLabel()
        self.footer_label.setObjectName("footer")
        self.footer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.footer_label.setAccessibleName("Reply statistics")
        self.footer_label.setFont(scaled_font(self, 0.85))
        # Wrap rather than widen the bubble: a wider footer on finish would re-measure every line
        # of a long reply at a new width (and clip it in a narrow window).
        self.footer_label.setWordWrap(True)
        self.footer_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setText(wording.COPY)
        self.copy_button.setAccessibleName("Copy reply")
        self.copy_button.setToolTip("Copy this reply to the clipboard")
        self.copy_button.setFont(scaled_font(self, 0.85))
        self.copy_button.clicked.connect(self._copy)

        self.branch_bar = BranchBar(role)
        self.branch_bar.stepRequested.connect(self.branchStepRequested.emit)
        self.branch_bar.actionRequested.connect(self.branchActionRequested.emit)
        self.branch_bar.deleteRequested.connect(self.deleteRequested.emit)

        self._build_layout()
        for label in (self.reasoning_view, self.answer_label, self.markdown_label, self.error_label,
                      self.footer_label):
            label.installEventFilter(self)
        self.answer_label.watch(self)
        self.reasoning_view.watch(self)
        self._set_reasoning_visible(False)
        self.error_label.hide()
        self.copy_button.hide()
        self.footer_label.setVisible(role == "assistant")
        self.setAccessibleName("Your message" if role == "user" else "Assistant reply")

    def _build_layout(self) -> None:
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(14, 10, 14, 8)
        inner.setSpacing(6)
        inner.addWidget(self.role_label)
        inner.addWidget(self.reasoning_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        inner.addWidget(self.reasoning_view)
        inner.addWidget(self.answer_label)
        inner.addWidget(self.markdown_label)
        inner.addWidget(self.error_label)
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        if self.role == "user":
            footer.addStretch(1)
            footer.addWidget(self.branch_bar)
        footer.addWidget(self.footer_label, 1)
        footer.addWidget(self.copy_button)
        inner.addLayout(footer)
        if self.role == "assistant":  # versions and actions on their own row: the stats keep room
            actions = QHBoxLayout()
            actions.setContentsMargins(0, 0, 0, 0)
            actions.addWidget(self.branch_bar)
            actions.addStretch(1)
            inner.addLayout(actions)

        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 4, 0, 4)
        if self.role == "user":
            outer.addStretch(1)
            outer.addWidget(self.bubble, 4)
        else:
            outer.addWidget(self.bubble, 1)

    # Rendering

    def update_from(self, index: QModelIndex | QPersistentModelIndex) -> None:
        text: str = index.data(ChatModel.TextRole) or ""
        reasoning: str = index.data(ChatModel.ReasoningRole) or ""
        streaming: bool = bool(index.data(ChatModel.StreamingRole))
        seconds: float | None = index.data(ChatModel.ReasoningSecondsRole)
        stats: ReplyStats | None = index.data(ChatModel.StatsRole)
        error: str = index.data(ChatModel.ErrorRole) or ""

        if self.answer_label.text() != text:
            self.answer_label.setText(text)
        rich = (self.role == "assistant" and not streaming and bool(text)
                and len(text) <= MARKDOWN_MAX_CHARS)
        if rich and text != self._rendered:
            self.markdown_label.setText(render_markdown(text, self.answer_label.font()))
            self._rendered = text
        self.markdown_label.setVisible(rich)
        self.answer_label.setVisible((bool(text) and not rich) or self.role == "user")
        self._render_reasoning(reasoning, bool(text), streaming, seconds)
        self.error_label.setText(error)
        self.error_label.setVisible(bool(error))
        if self.role == "assistant":
            self._render_footer(text, streaming, stats)
        self.branch_bar.set_branch(
            (index.data(ChatModel.BranchPositionRole) or 1, index.data(ChatModel.BranchCountRole) or 1),
            busy=streaming)

    def _render_reasoning(
        self, reasoning: str, answered: bool, streaming: bool, seconds: float | None
    ) -> None:
        self.reasoning_toggle.setVisible(bool(reasoning))
        if not reasoning:
            self._set_reasoning_visible(False)
            return
        if streaming and not answered:
            self.reasoning_toggle.setText(wording.THINKING)
        elif seconds is not None:
            self.reasoning_toggle.setText(wording.thought_for(seconds))
        else:
            self.reasoning_toggle.setText(wording.REASONING)
        if self.reasoning_view.text() != reasoning:
            self.reasoning_view.setText(reasoning)
        if not self._user_toggled:
            # Open while the model is only thinking; fold away once the answer starts.
            self._set_reasoning_visible(not answered)

    def _render_footer(self, text: str, streaming: bool, stats: ReplyStats | None) -> None:
        if streaming:
            self.footer_label.setText(wording.WAITING)
        elif stats is not None:
            self.footer_label.setText(wording.footer(stats))
        else:
            self.footer_label.setText("")
        self.footer_label.setVisible(bool(self.footer_label.text()))
        self.copy_button.setVisible(not streaming and bool(text))

    def _set_reasoning_visible(self, visible: bool) -> None:
        self.reasoning_toggle.setChecked(visible)
        self.reasoning_toggle.setArrowType(
            Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow
        )
        self.reasoning_view.setVisible(visible)

    def _on_toggle_clicked(self, checked: bool) -> None:
        self._user_toggled = True
        self._set_reasoning_visible(checked)

    @property
    def reasoning_expanded(self) -> bool:
        return self.reasoning_toggle.isChecked()

    def set_selected(self, selected: bool) -> None:
        if self.bubble.property("selected") != selected:
            self.bubble.setProperty("selected", selected)
            repolish(self.bubble)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.answer_label.text())
        self.copy_button.setText(wording.COPIED)
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText(wording.COPY))

    # Clicking anywhere on the message selects it (labels swallow presses, so filter them too)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.activated.emit()
        super().mousePressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress:
            self.activated.emit()
        return False
