"""Screenshots of LoRA adapters in the real app: the model manager's list, the composer, a reply.

    Xvfb :97 -screen 0 1400x900x24 &
    DISPLAY=:97 .venv/bin/python scripts/adapter_screens.py [--out /tmp/fs-adapter-shots/png]

What it does, with FIRESIDE_HOME=/tmp/fs-adapter-shots (wiped first) and HF_ENDPOINT pointing at
tests/helpers/hf_server.py's server on 127.0.0.1 (nothing touches the internet):
  - installs the tiny gpt-oss test model and one generated LoRA adapter (legal.gguf, rank 16);
  - opens the real main window (real llama.cpp engine), loads the model, presses Models;
  - 1-adapters.png: the "LoRA adapters" tab, the adapter's architecture, rank, alpha, size, targets;
  - 2-adapter-downloaded.png: "LoRA adapter" ticked, support.gguf downloaded from the local Hub;
  - 3-import-refused.png: importing a truncated adapter: the sentence saying why it is refused;
  - 4-composer.png: Chat ▸ New Chat from Preset "Legal copilot" (legal ×0.8): the composer's label;
  - 5-reply.png: a reply, its stats footer naming the adapter.
  - 6-composer-scale.png: the composer's LoRA button opened: the adapter's scale, turned to ×0.65;
  - 7-preset-scale.png: Chat ▸ Save Chat Settings as Preset…: the adapters with a scale each.
The screenshots are taken with ImageMagick's `import -window root`, cropped to the window shown.
Exit code 0 when every step happened; 1 (with the step) when one timed out.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shots import (
    Step,
    fresh_home,
    no_display,
    open_models,
    out_option,
    painted,
    run_steps,
    shot,
    show_window,
    top,
)

HOME = Path("/tmp/fs-adapter-shots")
STEP_TIMEOUT_S = 120
HUB_REPO = "someone/support-lora-GGUF"


def main() -> int:
    out = out_option(__doc__, HOME)
    if no_display(":97"):
        return 2
    fresh_home(HOME, out)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from tests.helpers.hf_server import HubServer
    from tests.helpers.lora import lora_for
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    from fireside.core.config.paths import app_paths
    from fireside.core.history.presets import Preset, save_preset
    from fireside.core.models.adapters import import_adapter
    from fireside.core.models.installed import import_model
    from fireside.ui.history.preset_dialog import PresetDialog
    from fireside.ui.models.model_manager import ModelManagerDialog
    from fireside.ui.shell.app import application

    tiny = cached_tiny_gptoss()
    paths = app_paths()
    model, _info = import_model(paths.models, tiny, copy=True)
    made = HOME / "made"
    made.mkdir()
    legal = lora_for(tiny, made / "legal.gguf", rank=16, alpha=16.0, std=0.5)
    import_adapter(paths.adapters, legal, copy=True)
    support = lora_for(tiny, made / "support.gguf", rank=8, alpha=8.0, seed=5,
                       targets=("attn_q", "attn_v"))
    cut = made / "legal-v2.gguf"
    cut.write_bytes(legal.read_bytes()[: legal.stat().st_size // 2])

    with HubServer({HUB_REPO: {"support.gguf": support.read_bytes()}}) as hub:
        os.environ["HF_ENDPOINT"] = hub.hub_url
        app = application()
        window = show_window()

        def scenario() -> Step:
            window.load_model(str(model.path))
            yield lambda: window.model_info is not None or window.error_banner.isVisible()
            yield from open_models(window)
            dlg = top(ModelManagerDialog)
            assert dlg is not None
            dlg.move(0, 0)
            dlg.installed_tabs.setCurrentWidget(dlg.adapters)
            yield lambda: dlg.adapters.table.rowCount() == 1
            dlg.adapters.table.selectRow(0)
            yield painted()
            shot(dlg, out / "1-adapters.png")

            dlg.repo_edit.setText(HUB_REPO)
            dlg.file_edit.setText("support.gguf")
            dlg.adapter_download_check.setChecked(True)
            dlg.download_button.click()
            yield lambda: dlg.adapters.table.rowCount() == 2
            shot(dlg, out / "2-adapter-downloaded.png")

            dlg.adapters.import_file(cut)
            yield lambda: dlg.adapters.status.text().startswith("Not imported")
            shot(dlg, out / "3-import-refused.png")
            dlg.accept()
            yield lambda: top(ModelManagerDialog) is None

            assert window.history is not None and window.chat_actions is not None
            preset = Preset("Legal copilot", "You are a careful contracts lawyer.", "low",
                            adapters=((str(paths.adapters / "legal.gguf"), 0.8),))
            save_preset(window.history.store, preset)
            window.chat_actions.start_from_preset(preset)
            yield lambda: window.composer.adapters_label.text() == "LoRA legal ×0.8"
            window.composer.text_edit.setPlainText("Is clause 7 of this lease enforceable?")
            yield painted()
            shot(window, out / "4-composer.png")

            finished: list[int] = []
            window.replyFinished.connect(finished.append)
            window.composer.send_button.click()
            yield lambda: bool(finished)
            window.transcript.scroll_to_bottom()
            footer = window.transcript.widget_at(finished[0]).footer_label
            yield lambda: "LoRA legal" in footer.text() and footer.isVisible()
            window.select_row(finished[0])
            yield painted()
            shot(window, out / "5-reply.png")
            print("footer:", footer.text(), flush=True)

            # the scale of the chat's adapter, from the composer's LoRA button
            window.composer.adapters_button.click()
            popup = window.composer.adapter_popup
            yield lambda: popup.isVisible()
            for _ in range(3):
                popup.scales.spins[0].stepDown()  # 0.8 -> 0.65
            yield lambda: window.composer.adapters_button.text() == "LoRA legal ×0.65"
            yield painted()
            shot(window, out / "6-composer-scale.png")
            popup.hide()

            # the preset editor lists the chat's adapters, each with its scale
            window.chat_actions.use_adapter(str(paths.adapters / "support.gguf"))
            yield lambda: len(window.composer.adapters()) == 2
            QTimer.singleShot(0, window.chat_actions.save_action.trigger)
            yield lambda: top(PresetDialog) is not None
            editor: PresetDialog = top(PresetDialog)
            editor.move(0, 0)
            editor.name_edit.setText("Legal copilot, gentler")
            editor.adapter_scales.spins[1].setValue(0.5)
            yield painted()
            shot(editor, out / "7-preset-scale.png")
            editor.reject()
            yield lambda: top(PresetDialog) is None

        app.aboutToQuit.connect(window.shutdown)
        rc = run_steps(app, scenario(), window.close, STEP_TIMEOUT_S)
        window.shutdown()
        for w in QApplication.topLevelWidgets():
            if isinstance(w, ModelManagerDialog):
                w.shutdown()
        return rc


if __name__ == "__main__":
    sys.exit(main())
