"""File ▸ Remote Models… as a person uses it: add a connection with a key (which lands only in the
keyring), test it against a real server on 127.0.0.1 off the GUI thread, use it in the window,
remove it; offline mode and policy greyed out with their reason."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QMessageBox

from fireside.core.admin.policy import load_policy
from fireside.core.config.paths import Paths
from fireside.core.config.settings import Settings, save_settings
from fireside.core.engine.remotes import Remotes
from fireside.ui.remotes.add_dialog import AddRemoteDialog
from fireside.ui.remotes.remotes_dialog import RemotesDialog
from fireside.ui.remotes.target import RemoteTarget
from tests.helpers.openai_peer import OpenAIPeer
from tests.helpers.stubs import ScriptedEngine
from tests.ui.conftest import MakeWindow
from tests.ui.remotes.conftest import ANSWER, KEY, keyring_contents, save_connection
from tests.ui.shell.test_main_window import send_and_wait


def _dialog(qtbot, paths: Paths, use=None) -> RemotesDialog:  # type: ignore[no-untyped-def]
    dialog = RemotesDialog(paths, load_policy(), use=use)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _add(qtbot, dialog: RemotesDialog, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
         **fields: str) -> AddRemoteDialog:
    """Fill the Add form as a person would and press Save (the form is modal: run it by hand)."""
    forms: list[AddRemoteDialog] = []

    def run(form: AddRemoteDialog) -> int:
        forms.append(form)
        form.name_edit.setText(fields.get("name", ""))
        form.url_edit.setText(fields.get("url", ""))
        form.model_edit.setText(fields.get("model", ""))
        form.key_edit.setText(fields.get("key", ""))
        form.ca_edit.setText(fields.get("ca", ""))
        form.save()
        return int(form.result())

    monkeypatch.setattr(AddRemoteDialog, "exec", run)
    dialog.add()
    return forms[0]


def _row(dialog: RemotesDialog, name: str) -> list[str]:
    for i in range(dialog.tree.topLevelItemCount()):
        item = dialog.tree.topLevelItem(i)
        if item.text(0) == name:
            return [item.text(c) for c in range(dialog.tree.columnCount())]
    raise AssertionError(f"no row {name}")


def test_add_test_and_remove_with_the_key_only_in_the_keyring(
        qtbot, paths: Paths, peer: OpenAIPeer, keyring_file: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = _dialog(qtbot, paths)
    assert "No remote connections yet" in dialog.result_label.text()
    assert not dialog.test_button.isEnabled() and not dialog.use_button.isEnabled()

    form = _add(qtbot, dialog, monkeypatch, name="bad name", url=peer.url)
    assert "cannot name a connection" in form.error_label.text() and not form.saved_name
    form = _add(qtbot, dialog, monkeypatch, name="lab", url="ftp://nowhere")
    assert "is not an http:// or https:// address" in form.error_label.text()
    form = _add(qtbot, dialog, monkeypatch, name="lab", url=peer.url, ca="/no/such/ca.pem")
    assert "does not exist" in form.error_label.text()
    assert not (paths.config / "remotes.json").exists()

    form = _add(qtbot, dialog, monkeypatch, name="lab", url=peer.url, model="gpt-oss-120b", key=KEY)
    assert form.saved_name == "lab" and form.key_edit.text() == ""
    assert _row(dialog, "lab") == ["lab", peer.url, "gpt-oss-120b", "in keyring", "Ready"]
    saved = (paths.config / "remotes.json").read_text()
    assert KEY not in saved and json.loads(saved)["remotes"][0]["name"] == "lab"
    assert keyring_contents(keyring_file) == {"Fireside/remote-api-key:lab": KEY}
    assert not paths.settings_file.exists() or KEY not in paths.settings_file.read_text()

    with qtbot.waitSignal(dialog.testFinished, timeout=10_000) as tested:
        dialog.test_selected()
        assert dialog.result_label.text() == "Connecting to lab…"  # the GUI thread did not wait
    assert tested.args == ["lab", "lab answers with 2 models: gpt-oss-120b, gpt-oss-20b"]
    assert peer.gets[-1][1]["authorization"] == f"Bearer {KEY}"

    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    dialog.remove_selected()
    assert Remotes(paths.config).all() == [] and keyring_contents(keyring_file) == {}
    assert dialog.tree.topLevelItemCount() == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_test_says_clearly_why_a_connection_fails(
        qtbot, paths: Paths, peer: OpenAIPeer, keyring_file: Path,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    save_connection(paths, "wrongkey", peer.url, key="sk-wrong")
    save_connection(paths, "gone", f"http://127.0.0.1:{_closed_port()}/v1")
    dialog = _dialog(qtbot, paths)
    for name, words in (("wrongkey", "wrongkey refused the API key (401: Incorrect API key "
                                     "provided.). Set the right key in File ▸ Remote Models…"),
                        ("gone", "Could not reach gone at http://127.0.0.1:")):
        dialog.refresh(select=name)
        with qtbot.waitSignal(dialog.testFinished, timeout=20_000) as tested:
            dialog.test_selected()
        assert tested.args[0] == name and words in tested.args[1]
        assert words in dialog.result_label.text()
        assert "sk-wrong" not in dialog.result_label.text()


def test_use_loads_the_remote_model_in_the_window(
        qtbot, make_window: MakeWindow, paths: Paths, peer: OpenAIPeer,  # type: ignore[no-untyped-def]
        keyring_file: Path) -> None:
    window = make_window(ScriptedEngine())
    window.show()
    save_connection(paths, "lab", peer.url, model="gpt-oss-20b")
    dialog = _dialog(qtbot, paths, use=window.load_remote)
    with qtbot.waitSignal(window.modelLoaded, timeout=10_000), \
            qtbot.waitSignal(dialog.useRequested) as used:
        assert dialog.use_selected()
    assert used.args == [RemoteTarget("lab", "gpt-oss-20b")]
    assert not dialog.isVisible()
    assert window.windowTitle().startswith("gpt-oss-20b on lab (remote)")
    row = send_and_wait(qtbot, window, "Hi")
    assert window.chat_model.item(row).text == "".join(ANSWER)


def test_the_menu_opens_the_dialog(qtbot, make_window: MakeWindow, paths: Paths,  # type: ignore[no-untyped-def]
                                   keyring_file: Path) -> None:
    window = make_window(ScriptedEngine())
    action = next(a for a in window.actions_.file_menu.actions() if a.text() == "&Remote Models…")
    action.trigger()
    dialog = window.findChild(RemotesDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.close()


def test_offline_mode_and_policy_grey_out_with_the_reason(
        qtbot, paths: Paths, peer: OpenAIPeer, keyring_file: Path,  # type: ignore[no-untyped-def]
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_connection(paths, "lab", peer.url)
    save_connection(paths, "corp", "https://llm.corp.example/v1", key="")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"allowed_remote_endpoints": ["https://llm.corp.example/v1"]}))
    dialog = _dialog(qtbot, paths, use=lambda _t: True)
    assert _row(dialog, "lab")[3:] == ["in keyring", "Not allowed"]
    assert _row(dialog, "corp")[3:] == ["not set", "Ready"]
    dialog.refresh(select="lab")
    assert not dialog.test_button.isEnabled() and not dialog.use_button.isEnabled()
    assert dialog.remove_button.isEnabled()
    assert "is not on your organisation's list of allowed remote endpoints" in \
        dialog.result_label.text()
    grey = dialog.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    assert dialog.tree.currentItem().foreground(0).color() == grey
    assert not dialog.use_selected() and not dialog.refusal_label.isVisible()
    asked = len(peer.gets)

    policy.unlink()
    save_settings(Settings(offline=True), paths.settings_file)
    dialog = _dialog(qtbot, paths, use=lambda _t: True)
    assert dialog.refusal_label.isVisible() and "Offline mode is on" in dialog.refusal_label.text()
    assert not dialog.add_button.isEnabled()
    assert not dialog.test_button.isEnabled() and not dialog.use_button.isEnabled()
    assert _row(dialog, "lab")[4] == "Off (offline)"
    assert len(peer.gets) == asked  # nothing was asked of the server


def test_a_tls_failure_says_to_add_a_ca_bundle_and_one_added_in_the_form_is_trusted(
        qtbot, paths: Paths, keyring_file: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    import trustme

    ca = trustme.CA(organization_name="Corp proxy CA")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    bundle = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with OpenAIPeer(models=("gpt-oss-120b",), tls=server_ctx) as peer:
        dialog = _dialog(qtbot, paths)
        _add(qtbot, dialog, monkeypatch, name="corp", url=peer.url)
        with qtbot.waitSignal(dialog.testFinished, timeout=20_000) as tested:
            dialog.test_selected()
        assert "could not be verified" in tested.args[1] and "CA bundle" in tested.args[1]
        assert peer.gets == []  # no request went over the unverified connection

        form = _add(qtbot, dialog, monkeypatch, name="corp", url=peer.url, ca=str(bundle))
        assert form.saved_name == "corp"
        assert Remotes(paths.config).get("corp").ca_bundle == str(bundle.resolve())  # type: ignore[union-attr]
        with qtbot.waitSignal(dialog.testFinished, timeout=20_000) as tested:
            dialog.test_selected()
        assert tested.args[1] == "corp answers with 1 model: gpt-oss-120b"


def test_the_file_menu_lists_remote_models_apart_and_uses_one(
        qtbot, make_window: MakeWindow, paths: Paths, peer: OpenAIPeer,  # type: ignore[no-untyped-def]
        keyring_file: Path, tmp_path: Path) -> None:
    save_connection(paths, "lab", peer.url)
    save_connection(paths, "corp", "https://llm.corp.example/v1", key="")
    (tmp_path / "policy.json").write_text(json.dumps({"allowed_remote_endpoints": [peer.url]}))
    window = make_window(ScriptedEngine())
    window.show()
    menu = next(a.menu() for a in window.actions_.file_menu.actions()
                if a.text() == "Use a Remote &Model")
    menu.aboutToShow.emit()
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == ["gpt-oss-120b on lab", "gpt-oss-120b on corp", "Manage…"]
    assert not actions["gpt-oss-120b on corp"].isEnabled()
    assert "allowed remote endpoints" in actions["gpt-oss-120b on corp"].toolTip()
    with qtbot.waitSignal(window.modelLoaded, timeout=10_000):
        actions["gpt-oss-120b on lab"].trigger()
    assert window.remote_label == "lab"
