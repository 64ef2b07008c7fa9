"""Screenshots of what a user sees under an organisation's policy, in a real X window.

    Xvfb :97 -screen 0 1400x900x24 &
    DISPLAY=:97 .venv/bin/python scripts/policy_screens.py [--out /tmp/fs-policy/png]

With FIRESIDE_HOME=/tmp/fs-policy (wiped first), a policy file (FIRESIDE_POLICY_FILE) that turns
downloads off, allows low and medium effort, caps the context at 8,192 tokens, names a default
model and allows only that one; the tiny gpt-oss test model sits in the shared folder
(FIRESIDE_SHARED_MODELS_DIR) as an administrator would have put it there:
  - 1-default-model.png: the window opens the organisation's default model on its own, with the
    effort menu open (high is greyed out);
  - 2-settings-locked.png: Advanced settings: offline and context locked, with the reason;
  - 3-models-managed.png: the model manager: downloads off by policy, the shared model read-only;
  - 4-model-refused.png: opening a model that is not on the allowed list.
Exit code 0 when every step happened; 1 (with the step) when one timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from shots import Step, no_display, run_steps, shot, top

HOME = Path("/tmp/fs-policy")
ALLOWED = "gpt-oss-20b-mxfp4.gguf"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=HOME / "png")
    args = p.parse_args()
    if no_display(":97"):
        return 2
    shutil.rmtree(HOME, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    shared, policy = HOME / "shared-models", HOME / "policy.json"
    os.environ.update({"FIRESIDE_HOME": str(HOME / "user"), "FIRESIDE_POLICY_FILE": str(policy),
                       "FIRESIDE_SHARED_MODELS_DIR": str(shared)})
    os.environ.pop("QT_QPA_PLATFORM", None)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QToolBar
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    from fireside.ui.models.load_settings import LoadSettingsDialog
    from fireside.ui.models.model_manager import ModelManagerDialog
    from fireside.ui.shell.app import application, create_window

    tiny = cached_tiny_gptoss()
    shared.mkdir(parents=True)
    shutil.copyfile(tiny, shared / ALLOWED)
    stray = HOME / "Downloads" / "some-other-model.gguf"
    stray.parent.mkdir(parents=True)
    shutil.copyfile(tiny, stray)
    policy.write_text(json.dumps({
        "allow_model_downloads": False, "offline_only": True, "allowed_efforts": ["low", "medium"],
        "default_effort": "medium", "max_context": 8192, "default_model": ALLOWED,
        "allowed_models": [{"repo": "ggml-org/gpt-oss-20b-GGUF", "file": ALLOWED, "sha256": ""}],
    }), encoding="utf-8")

    app = application()
    window = create_window()  # no path: the organisation's default model opens by itself
    window.resize(1200, 760)
    window.move(0, 0)
    window.show()

    def scenario() -> Step:
        yield lambda: window.model_info is not None
        window.composer.effort_combo.showPopup()
        yield lambda: True
        shot(window, args.out / "1-default-model.png")
        window.composer.effort_combo.hidePopup()

        toolbar = window.findChild(QToolBar, "modelsToolbar")
        models = next(a for a in toolbar.actions() if "Models" in a.text())
        QTimer.singleShot(0, models.trigger)  # exec() nests a loop; let this step return
        yield lambda: top(ModelManagerDialog) is not None
        dlg: ModelManagerDialog = top(ModelManagerDialog)
        dlg.move(0, 0)
        yield lambda: all("checking" not in dlg.installed.item(i).text()
                          for i in range(dlg.installed.count()))
        dlg.installed.setCurrentRow(0)
        yield lambda: True
        shot(dlg, args.out / "3-models-managed.png")

        QTimer.singleShot(0, dlg.advanced_button.click)
        yield lambda: top(LoadSettingsDialog) is not None
        adv: LoadSettingsDialog = top(LoadSettingsDialog)
        adv.move(40, 40)
        yield lambda: True
        shot(adv, args.out / "2-settings-locked.png")
        adv.reject()
        yield lambda: top(LoadSettingsDialog) is None
        dlg.reject()
        yield lambda: top(ModelManagerDialog) is None

        window.load_model(str(stray))
        yield lambda: window.error_banner.isVisible()
        shot(window, args.out / "4-model-refused.png")

    app.aboutToQuit.connect(window.shutdown)
    rc = run_steps(app, scenario(), window.close)
    window.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
