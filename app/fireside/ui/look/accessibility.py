"""Accessibility and comfort, installed on the main window in one call.

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
from typing import TYPE_CHECKING

from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from fireside.ui.look.theme import follow_system_theme

if TYPE_CHECKING:
    from fireside.ui.shell.main_window import MainWindow

TEXT_SCALES = (70, 80, 90, 100, 110, 125, 150, 175, 200)  # percent of the system font
ANNOUNCE_CHARS = 600  # a screen reader reads this much of a reply; the rest is in the message


def nearest_scale(percent: int) -> int:
    return min(TEXT_SCALES, key=lambda s: abs(s - percent))


def step_scale(percent: int, step: int) -> int:
    index = TEXT_SCALES.index(nearest_scale(percent)) + step
    return TEXT_SCALES[max(0, min(len(TEXT_SCALES) - 1, index))]


class Comfort:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.theme = follow_system_theme(window)
        self.larger = self._action("&Larger Text", ("Ctrl+=", "Ctrl++"), lambda: self.step(+1))
        self.smaller = self._action("&Smaller Text", ("Ctrl+-",), lambda: self.step(-1))
        self.actual = self._action("&Actual Text Size", ("Ctrl+0",), lambda: self.set_scale(100))
        menus = [o for o in window.actions_.panel.associatedObjects() if isinstance(o, QMenu)]
        if menus:
            menus[0].addSeparator()
            menus[0].addActions([self.larger, self.smaller, self.actual])
        else:
            window.addActions([self.larger, self.smaller, self.actual])
        self.scale = 100
        self.apply_scale(nearest_scale(window.settings.text_scale))
        window.replyFinished.connect(self.announce_reply)
        window.replyFailed.connect(lambda row, message: self.announce(
            window.transcript.widget_at(row), f"The reply failed: {message}"))
        self.set_tab_order()

    def _action(self, text: str, keys: tuple[str, ...], slot: Callable[[], object]) -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # Text size

    def step(self, step: int) -> None:
        self.set_scale(step_scale(self.scale, step))

    def set_scale(self, percent: int) -> None:
        self.apply_scale(nearest_scale(percent))
        self.window._update_settings(self.window.settings.with_changes(text_scale=self.scale))

    def apply_scale(self, percent: int) -> None:
        self.scale = percent
        self.theme.text_scale = percent
        self.theme.apply()  # sizes live in the stylesheet: fonts set on widgets do not propagate
        self.larger.setEnabled(percent < TEXT_SCALES[-1])
        self.smaller.setEnabled(percent > TEXT_SCALES[0])

    # Screen readers

    def announce_reply(self, row: int) -> None:
        text = self.window.chat_model.item(row).text.strip()
        if not text:
            return
        short = text if len(text) <= ANNOUNCE_CHARS else text[:ANNOUNCE_CHARS].rsplit(" ", 1)[0] + "…"
        self.announce(self.window.transcript.widget_at(row), f"Reply finished. {short}")

    @staticmethod
    def announce(widget: QWidget, message: str) -> None:
        widget.setAccessibleDescription(message)
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(widget, message))

    # Keyboard

    def set_tab_order(self) -> None:
        w = self.window
        chain: list[QWidget] = []
        sidebar = getattr(w, "sidebar", None)
        if sidebar is not None:
            chain += [sidebar.new_button, sidebar.search_box, sidebar.reasoning_box, sidebar.list]
        chain += [w.composer.text_edit, w.composer.effort_combo, w.composer.send_button]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)


def install_comfort(window: MainWindow) -> Comfort:
    return Comfort(window)
