"""What a new user sees before any model is loaded: what Fireside is, and what to do next."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from fireside.ui import wording
from fireside.ui.look.style import scaled_font


def _paragraph(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
    return label


class WelcomePage(QWidget):
    openRequested = Signal()
    downloadRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setAccessibleName("Getting started")
        title = _paragraph(wording.WELCOME_TITLE, "welcomeTitle")
        title.setFont(scaled_font(self, 1.8, bold=True))
        body = _paragraph(wording.WELCOME_BODY, "welcomeBody")
        body.setFont(scaled_font(self, 1.1))
        how = _paragraph(wording.WELCOME_HOW, "welcomeHow")
        self.open_button = QPushButton(wording.OPEN_MODEL_BUTTON)
        self.open_button.setObjectName("openModelButton")
        self.open_button.setAccessibleName("Open a model file")
        self.open_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.openRequested)
        self.status_label = _paragraph("", "welcomeStatus")
        self.status_label.setAccessibleName("Loading status")
        self.status_label.hide()
        soon = _paragraph(wording.WELCOME_DOWNLOAD, "welcomeDownload")
        soon.setFont(scaled_font(self, 0.9))
        self.download_button = QPushButton(wording.DOWNLOAD_MODEL_BUTTON)
        self.download_button.setObjectName("downloadModelButton")
        self.download_button.setAccessibleName("Download gpt-oss-20b")
        self.download_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.download_button.clicked.connect(self.downloadRequested)

        column = QWidget()
        column.setMaximumWidth(560)
        layout = QVBoxLayout(column)
        layout.setSpacing(14)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addSpacing(8)
        layout.addWidget(how)
        layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.status_label)
        layout.addSpacing(16)
        layout.addWidget(soon)
        layout.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignHCenter)
        # Stretches rather than alignment flags: an aligned widget gets its width hint, not its
        # height-for-width, and the wrapped paragraphs would be cut off.
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(column, 4)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def set_loading(self, name: str | None) -> None:
        """Show which model is loading (None: none) and keep the button from double-loading."""
        self.open_button.setEnabled(name is None)
        self.status_label.setText(wording.loading(name) if name else "")
        self.status_label.setVisible(name is not None)
