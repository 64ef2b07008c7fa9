"""The one way the window's parts tell the person something: an error or a notice.

Controllers get the notifier instead of the window, so they never reach for its banners, and a
test can listen to what a feature said without building a window (qutebrowser's `message` bridge
and novelWriter's `SHARED` do the same job).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class Notifier(QObject):
    errorShown = Signal(str, str)  # title, message: stays until dismissed or replaced
    noticeShown = Signal(str, str)  # title, message: for information
    cleared = Signal()

    def error(self, title: str, message: str) -> None:
        self.errorShown.emit(title, message)

    def notice(self, title: str, message: str) -> None:
        self.noticeShown.emit(title, message)

    def clear(self) -> None:
        self.cleared.emit()
