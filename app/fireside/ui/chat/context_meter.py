"""How much of the model's context the conversation uses, shown in the status bar.

A local model forgets (or fails) once a conversation outgrows its context window, and nothing on
screen said how close that was. The figure is the last reply's prompt plus what it generated,
which is what the model held in memory at that point; it updates after every reply and when a
saved chat is opened.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from fireside.core.chat.events import ReplyStats

WARN_FRACTION = 0.8


def tokens_in_use(stats: ReplyStats | None) -> int:
    if stats is None:
        return 0
    return stats.prompt_tokens + stats.reasoning_tokens + stats.answer_tokens


class ContextMeter(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.setAccessibleName("Context use")
        self.setContentsMargins(0, 0, 8, 0)
        self.used = 0
        self.total = 0
        self._render()

    def set_total(self, total: int) -> None:
        self.total = max(0, total)
        self._render()

    def set_used(self, used: int) -> None:
        self.used = max(0, used)
        self._render()

    @property
    def almost_full(self) -> bool:
        return self.total > 0 and self.used >= WARN_FRACTION * self.total

    def _render(self) -> None:
        if not self.total:
            self.setText("")
            self.setToolTip("")
            self.hide()
            return
        percent = min(100, round(100 * self.used / self.total))
        text = f"Context: {self.used:,} of {self.total:,} tokens ({percent}%)"
        if self.almost_full:
            text = f"Context almost full: {self.used:,} of {self.total:,} tokens"
            self.setToolTip("The model is close to the end of its memory for this chat. "
                            "Start a new chat to keep answers reliable.")
        else:
            self.setToolTip("How much of the model's memory this chat uses.")
        self.setText(text)
        self.show()
