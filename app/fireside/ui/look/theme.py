"""Light and dark follow the system: the stylesheet is rebuilt from the palette whenever it changes.

style.stylesheet() mixes every colour from the palette, so following the system is a matter of
noticing a change: the application palette (the platform theme switching, or the user changing
it) or Qt's colour-scheme hint. The application palette is the source, not the window's: a widget
with a stylesheet has its own palette overridden by that stylesheet. Widgets that draw colours of their own
(code blocks) re-read the palette when the new stylesheet reaches them.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from fireside.ui.look.style import is_dark, stylesheet


class ThemeFollower(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.text_scale = 100  # percent; comfort.py sets it from View ▸ Larger / Smaller Text
        window.installEventFilter(self)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.apply)
        self.apply()

    @property
    def dark(self) -> bool:
        return is_dark(QGuiApplication.palette())

    def apply(self, *_: object) -> None:
        sheet = stylesheet(QGuiApplication.palette(), self.text_scale)
        if sheet != self._window.styleSheet():  # setting it again would loop through PaletteChange
            self._window.setStyleSheet(sheet)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() in (
                QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply()
        return False


def follow_system_theme(window: QWidget) -> ThemeFollower:
    return ThemeFollower(window)
