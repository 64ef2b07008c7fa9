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
from PySide6.QtGui import QGuiApplication, QMouseEvent, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.chat.events import ReplyStats
from fireside.ui import wording
from fireside.ui.chat.branch_bar import BranchBar
from fireside.ui.chat.chat_model import ChatItem, ChatModel
from fireside.ui.chat.chunked_text import ChunkedText, plain_label
from fireside.ui.chat.markdown import MARKDOWN_MAX_CHARS
from fireside.ui.chat.rich_answer import RichAnswer
from fireside.ui.look.style import repolish


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

        self.role_label = QLabel({"user": wording.YOU, "tool": wording.TOOL}.get(role, wording.ASSISTANT))
        self.role_label.setObjectName("roleLabel")

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

        # Finished replies are shown as Markdown here, code blocks highlighted with a Copy button
        # each (see rich_answer.py); answer_label keeps the plain text for streaming, copying
        # and user messages.
        self.markdown_label = RichAnswer()
        self.markdown_label.setAccessibleName("Reply")
        self.markdown_label.hide()
        self._rendered: str | None = None

        self.error_label = plain_label("errorText")
        # A finished reply with no answer text (stopped while thinking, or output the parser
        # could not place) still says what happened instead of showing an empty bubble.
        self.empty_label = plain_label("emptyAnswer")
        self.empty_label.hide()
        self.error_label.setAccessibleName("Error")

        self.footer_label = QLabel()
        self.footer_label.setObjectName("footer")
        self.footer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.footer_label.setAccessibleName("Reply statistics")
        # Wrap rather than widen the bubble: a wider footer on finish would re-measure every line
        # of a long reply at a new width (and clip it in a narrow window).
        self.footer_label.setWordWrap(True)
        self.footer_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setText(wording.COPY)
        self.copy_button.setAccessibleName("Copy reply")
        self.copy_button.setToolTip("Copy this reply to the clipboard")
        self.copy_button.clicked.connect(self._copy)
        if role == "assistant":  # hidden while streaming; see BranchBar on why it keeps its room
            policy = self.copy_button.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            self.copy_button.setSizePolicy(policy)

        self.branch_bar = BranchBar(role)
        self.branch_bar.stepRequested.connect(self.branchStepRequested.emit)
        self.branch_bar.actionRequested.connect(self.branchActionRequested.emit)
        self.branch_bar.deleteRequested.connect(self.deleteRequested.emit)

        self._build_layout()
        for label in (self.reasoning_view, self.answer_label, self.error_label, self.footer_label):
            label.installEventFilter(self)
        self.answer_label.watch(self)
        self.markdown_label.watch(self)
        self.reasoning_view.watch(self)
        self._set_reasoning_visible(False)
        self.error_label.hide()
        self.copy_button.hide()
        self.footer_label.setVisible(role == "assistant")
        self.setAccessibleName({"user": "Your message", "tool": "Tool result"}.get(role, "Assistant reply"))
        # Font sizes (the chat's text size, the smaller role and footer) come from the
        # stylesheet: style.stylesheet(), scaled by View ▸ Larger Text.

    def _build_layout(self) -> None:
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(14, 10, 14, 8)
        inner.setSpacing(6)
        inner.addWidget(self.role_label)
        inner.addWidget(self.reasoning_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        inner.addWidget(self.reasoning_view)
        inner.addWidget(self.answer_label)
        inner.addWidget(self.empty_label)
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
        # The row itself, not index.data(): each data() call copies a reply's whole text into a
        # QVariant and back, 20 times a second while it streams (~1 ms a batch at 400,000 chars).
        model = index.model()
        assert isinstance(model, ChatModel)
        item = model.item(index.row())
        if self.role == "tool":
            self._render_tool_result(item)
            return
        text, reasoning, streaming, error = item.text, item.reasoning, item.streaming, item.error
        if item.tool_calls:  # a step that called tools shows the calls where an answer would be
            calls = wording.tool_calls_markdown(item.tool_calls)
            text = f"{text}\n\n{calls}" if text else calls
        seconds: float | None = model.reasoning_seconds(item)
        stats: ReplyStats | None = item.stats

        if self.answer_label.text() != text:
            self.answer_label.setText(text)
        rich = (self.role == "assistant" and not streaming and bool(text)
                and len(text) <= MARKDOWN_MAX_CHARS)
        # Shown before it is filled: showing a filled one would lay out its rich text now, before
        # the widget is in the window and styled, and again once it is (twice the work on opening).
        self.markdown_label.setVisible(rich)
        if rich and text != self._rendered:
            self._render_markdown(text)
        self.answer_label.setVisible((bool(text) and not rich) or self.role == "user")
        self._render_reasoning(reasoning, bool(text), streaming, seconds)
        self.error_label.setText(error)
        self.error_label.setVisible(bool(error))
        empty = self.role == "assistant" and not streaming and not text and not error
        if empty:
            self.empty_label.setText(wording.NO_ANSWER_THINKING if reasoning else wording.NO_ANSWER)
        self.empty_label.setVisible(empty)
        if self.role == "assistant":
            self._render_footer(text, streaming, stats)
        self.branch_bar.set_branch(item.branch, busy=streaming)
        if item.tool_calls:  # a step inside a reply: the reply's last message carries the actions
            self.branch_bar.hide()
            self.copy_button.hide()

    def _render_tool_result(self, item: ChatItem) -> None:
        """A tool's result: a collapsible output under a title with its duration, opened when
        the tool failed (the person should see why)."""
        self.reasoning_toggle.setVisible(True)
        self.reasoning_toggle.setText(wording.tool_result_title(item.tool_name, item.tool_failed,
                                                                item.duration_s, item.text))
        output = item.text or wording.NO_TOOL_OUTPUT
        if self.reasoning_view.text() != output:
            self.reasoning_view.setText(output)
        if not self._user_toggled:
            self._set_reasoning_visible(item.tool_failed)
        self.bubble.setProperty("failed", item.tool_failed)
        for w in (self.answer_label, self.markdown_label, self.empty_label, self.error_label,
                  self.footer_label, self.copy_button, self.branch_bar):
            w.hide()

    def _render_markdown(self, text: str) -> None:
        self.markdown_label.set_markdown(text)
        self._rendered = text

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

    def highlight(self, term: str) -> QLabel | None:
        """Select the first place `term` appears (ignoring case), in the answer or else in the
        reasoning (opened for it): how a search hit is shown. The label holding it, or None."""
        needle = term.casefold()
        if not needle:
            return None
        rich = self.markdown_label
        answer = (rich.prose_labels() + [b.code_label for b in rich.code_blocks()]
                  if rich.isVisibleTo(self) else self.answer_label.labels())
        for label, in_reasoning in [(x, False) for x in answer] + [
                (x, True) for x in self.reasoning_view.labels()]:
            shown = label.text()
            if label.textFormat() != Qt.TextFormat.PlainText:
                document = QTextDocument()
                document.setHtml(shown)
                shown = document.toPlainText()
            at = shown.casefold().find(needle)
            if at < 0:
                continue
            if in_reasoning and not self.reasoning_expanded:
                self._user_toggled = True
                self._set_reasoning_visible(True)
            label.setSelection(at, len(term))
            return label
        return None

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
