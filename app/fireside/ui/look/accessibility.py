"""Accessibility and comfort for the main window's parts, which the window hands over.

- Themes: the stylesheet follows the system palette (theme.py).
- Text size: View ▸ Larger Text (Ctrl+=), Smaller Text (Ctrl+-), Actual Size (Ctrl+0) scale the
  transcript and the message box; the choice is saved in Settings.text_scale.
- Screen readers: a finished reply is announced (a QAccessible announcement carrying the start of
  the answer) and its message gets an accessible description, so the answer is not lost in the
  stream of updates a live region would have produced.
- Keyboard: a Tab order that follows the screen: sidebar, then the message box, effort and Send.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from PySide6.QtCore import QObject
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from fireside.ui.chat.chat_model import ChatModel
from fireside.ui.chat.composer import Composer
from fireside.ui.chat.transcript import TranscriptView
from fireside.ui.history.sidebar import Sidebar
from fireside.ui.look.theme import follow_system_theme
from fireside.ui.shell.settings_controller import SettingsController

TEXT_SCALES = (70, 80, 90, 100, 110, 125, 150, 175, 200)  # percent of the system font
ANNOUNCE_CHARS = 600  # a screen reader reads this much of a reply; the rest is in the message


def nearest_scale(percent: int) -> int:
    return min(TEXT_SCALES, key=lambda s: abs(s - percent))


def step_scale(percent: int, step: int) -> int:
    index = TEXT_SCALES.index(nearest_scale(percent)) + step
    return TEXT_SCALES[max(0, min(len(TEXT_SCALES) - 1, index))]


class Comfort(QObject):
    """Theme, text size, screen-reader announcements and Tab order for a window's parts."""

    def __init__(self, window: QMainWindow, settings: SettingsController, chat_model: ChatModel,
                 transcript: TranscriptView, composer: Composer, view_menu: QMenu,
                 sidebar: Sidebar | None) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self._chat_model = chat_model
        self._transcript = transcript
        self._composer = composer
        self._sidebar = sidebar
        self.theme = follow_system_theme(window)
        self.larger = self._action("&Larger Text", ("Ctrl+=", "Ctrl++"), lambda: self.step(+1))
        self.smaller = self._action("&Smaller Text", ("Ctrl+-",), lambda: self.step(-1))
        self.actual = self._action("&Actual Text Size", ("Ctrl+0",), lambda: self.set_scale(100))
        view_menu.addSeparator()
        view_menu.addActions([self.larger, self.smaller, self.actual])
        self.scale = 100
        self.apply_scale(nearest_scale(settings.settings.text_scale))
        self.set_tab_order()

    def _action(self, text: str, keys: tuple[str, ...], slot: Callable[[], object]) -> QAction:
        action = QAction(text, self._window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # Text size

    def step(self, step: int) -> None:
        self.set_scale(step_scale(self.scale, step))

    def set_scale(self, percent: int) -> None:
        self.apply_scale(nearest_scale(percent))
        self._settings.update(self._settings.settings.with_changes(text_scale=self.scale))

    def apply_scale(self, percent: int) -> None:
        self.scale = percent
        self.theme.text_scale = percent
        self.theme.apply()  # sizes live in the stylesheet: fonts set on widgets do not propagate
        self.larger.setEnabled(percent < TEXT_SCALES[-1])
        self.smaller.setEnabled(percent > TEXT_SCALES[0])

    # Screen readers

    def announce_reply(self, row: int) -> None:
        text = self._chat_model.item(row).text.strip()
        if not text:
            return
        short = text if len(text) <= ANNOUNCE_CHARS else text[:ANNOUNCE_CHARS].rsplit(" ", 1)[0] + "…"
        self.announce(self._transcript.widget_at(row), f"Reply finished. {short}")

    def announce_failure(self, row: int, message: str) -> None:
        self.announce(self._transcript.widget_at(row), f"The reply failed: {message}")

    @staticmethod
    def announce(widget: QWidget, message: str) -> None:
        widget.setAccessibleDescription(message)
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(widget, message))

    # Keyboard

    def set_tab_order(self) -> None:
        chain: list[QWidget] = []
        if self._sidebar is not None:
            s = self._sidebar
            chain += [s.new_button, s.search_box, s.reasoning_box, s.list]
        c = self._composer
        chain += [c.text_edit, c.effort_combo, c.send_button]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)
