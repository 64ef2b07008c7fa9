"""The "Add connection" form: name, address, default model, API key, optional CA bundle.

The key goes only to the OS keyring (through TokenStore); it is never written to remotes.json,
the settings or a log. Where no secure keyring exists the form refuses to keep the key and says to
use OPENAI_API_KEY instead, as `fireside remotes add` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fireside.core.admin.policy import Policy
from fireside.core.config.paths import Paths
from fireside.core.engine.remotes import (
    Connection,
    RemoteInputError,
    Remotes,
    check_name,
    key_store,
    normalise_url,
    refusal,
)


class AddRemoteDialog(QDialog):
    def __init__(self, paths: Paths, policy: Policy, keyring_backend: Any | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a remote connection")
        self.setObjectName("addRemoteDialog")
        self.paths, self.policy, self._backend = paths, policy, keyring_backend
        self.saved_name = ""
        layout = QVBoxLayout(self)
        intro = QLabel("A server that speaks the OpenAI API: Azure AI Foundry, vLLM, llama.cpp's "
                       "server, Ollama, LM Studio or another Fireside.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("foundry")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://example.openai.azure.com/openai/v1")
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("gpt-oss-120b (optional)")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("kept only in your system keyring (optional)")
        self.ca_edit = QLineEdit()
        self.ca_edit.setPlaceholderText("a PEM file, for a corporate proxy (optional)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(browse)
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Address:", self.url_edit)
        form.addRow("Default &model:", self.model_edit)
        form.addRow("API &key:", self.key_edit)
        ca_label = QLabel("CA &bundle:")
        ca_label.setBuddy(self.ca_edit)
        form.addRow(ca_label, ca_row)
        layout.addLayout(form)
        self.keyring_note = QLabel(key_store("-", policy, keyring_backend).status())
        self.keyring_note.setWordWrap(True)
        layout.addWidget(self.keyring_note)
        self.error_label = QLabel()
        self.error_label.setObjectName("formError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA bundle", "", "Certificates (*.pem *.crt);;"
                                              "All files (*)")
        if path:
            self.ca_edit.setText(path)

    def _fail(self, message: str) -> bool:
        self.error_label.setText(message)
        self.error_label.show()
        return False

    def save(self) -> bool:
        """Check the form, save the connection (and the key in the keyring), and close."""
        try:
            name = check_name(self.name_edit.text())
            url = normalise_url(self.url_edit.text())
        except RemoteInputError as e:
            return self._fail(str(e))
        if why := refusal(url, self.paths, self.policy):
            return self._fail(why)
        ca = self.ca_edit.text().strip()
        if ca and not Path(ca).is_file():
            return self._fail(f"The CA bundle {ca} does not exist.")
        key = self.key_edit.text().strip()
        store = key_store(name, self.policy, self._backend)
        if key and not store.usable:
            return self._fail(f"{store.status()} Set the OPENAI_API_KEY variable instead, or "
                              "leave the key empty.")
        Remotes(self.paths.config).put(Connection(name, url, self.model_edit.text().strip(),
                                                  str(Path(ca).resolve()) if ca else ""))
        if key:
            store.set(key)
        self.key_edit.clear()  # the key leaves this widget once it is in the keyring
        self.saved_name = name
        self.accept()
        return True
