"""Screenshots of the model manager in the real app, against a local Hugging Face look-alike.

    Xvfb :97 -screen 0 1400x900x24 &
    DISPLAY=:97 .venv/bin/python scripts/model_manager_screens.py [--out /tmp/fs-shots/png]

What it does, with FIRESIDE_HOME=/tmp/fs-shots (wiped first) and HF_ENDPOINT pointing at
tests/helpers/hf_server.py's server on 127.0.0.1 (nothing touches the internet):
  - imports the tiny gpt-oss test model, so the installed list has a fit badge;
  - opens the real main window (real llama.cpp engine) and presses the toolbar's Models button;
  - 1-catalog.png: the catalog with this machine's fit badges;
  - 2-downloading.png: a throttled 200 MB download of the first catalog entry (bytes, speed, time
    left), which it then cancels;
  - 3-verify-failed.png: a download whose bytes the server corrupts, so the SHA-256 check fails;
  - 4-installed.png: "Try again" with the fault off: verified and listed with its badge;
  - 5-advanced.png: the Advanced load settings panel for the selected installed model;
  - 6-loaded.png: "Use this model": the main window after loading it with the planner's setup.
The screenshots are taken with ImageMagick's `import -window root`, cropped to the window shown.
Exit code 0 when every step happened; 1 (with the step) when one timed out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from shots import Step, no_display, run_steps, shot, top

HOME = Path("/tmp/fs-shots")
BIG = 200 * 1000 * 1000
THROTTLE = 3_000_000  # bytes per second: slow enough to watch, fast enough to show a speed
STEP_TIMEOUT_S = 90

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=HOME / "png")
    args = p.parse_args()
    if no_display(":97"):
        return 2
    shutil.rmtree(HOME, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["FIRESIDE_HOME"] = str(HOME)
    os.environ.pop("QT_QPA_PLATFORM", None)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QToolBar
    from tests.helpers.hf_server import HubServer
    from tests.helpers.tiny_gptoss import cached_tiny_gptoss

    from fireside.core.config.paths import app_paths
    from fireside.core.models.catalog import CATALOG
    from fireside.core.models.installed import import_model
    from fireside.ui.models.load_settings import LoadSettingsDialog
    from fireside.ui.models.model_manager import CHECKING, ModelManagerDialog
    from fireside.ui.shell.app import application, create_window

    tiny = cached_tiny_gptoss()
    paths = app_paths()
    import_model(paths.models, tiny, copy=True)
    big = os.urandom(BIG)
    first, second = CATALOG[0], CATALOG[1]
    repos = {first.repo_id: {first.filename: big}, second.repo_id: {second.filename: tiny.read_bytes()}}

    with HubServer(repos) as hub:
        os.environ["HF_ENDPOINT"] = hub.hub_url
        app = application()
        window = create_window(auto_load_last=False)
        window.resize(1200, 800)
        window.move(0, 0)
        window.show()

        def scenario() -> Step:
            toolbar = window.findChild(QToolBar, "modelsToolbar")
            models = next(a for a in toolbar.actions() if "Models" in a.text())
            QTimer.singleShot(0, models.trigger)  # exec() nests a loop; let this step return
            yield lambda: top(ModelManagerDialog) is not None
            dlg: ModelManagerDialog = top(ModelManagerDialog)
            dlg.move(0, 0)
            yield lambda: (dlg.table.item(0, 1).text() != CHECKING
                           and "checking" not in dlg.installed.item(0).text())
            shot(dlg, args.out / "1-catalog.png")

            hub.faults.bytes_per_second = THROTTLE
            dlg.table.selectRow(0)
            dlg.download_button.click()
            started = time.monotonic()
            yield lambda: time.monotonic() - started > 6 and "left" in dlg.status.text()
            shot(dlg, args.out / "2-downloading.png")
            dlg.cancel_button.click()
            yield lambda: dlg.download_button.isEnabled()

            hub.faults.bytes_per_second = None
            hub.faults.corrupt = True
            dlg.table.selectRow(1)
            dlg.download_button.click()
            yield lambda: dlg.download_button.text() == "Try again"
            shot(dlg, args.out / "3-verify-failed.png")

            hub.faults.corrupt = False
            dlg.download_button.click()
            yield lambda: "Downloaded and verified" in dlg.status.text()
            yield lambda: all("checking" not in dlg.installed.item(i).text()
                              for i in range(dlg.installed.count()))
            dlg.installed.setCurrentRow(0)
            shot(dlg, args.out / "4-installed.png")

            QTimer.singleShot(0, dlg.advanced_button.click)
            yield lambda: top(LoadSettingsDialog) is not None
            adv: LoadSettingsDialog = top(LoadSettingsDialog)
            adv.move(40, 40)
            yield lambda: adv.plan_reason.isVisible()
            shot(adv, args.out / "5-advanced.png")
            adv.reject()
            yield lambda: top(LoadSettingsDialog) is None

            dlg.installed.setCurrentRow(0)
            dlg.use_button.click()
            yield lambda: window.model_info is not None or window.error_banner.isVisible()
            yield lambda: top(ModelManagerDialog) is None
            shot(window, args.out / "6-loaded.png")

        app.aboutToQuit.connect(window.shutdown)
        rc = run_steps(app, scenario(), window.close, STEP_TIMEOUT_S)
        window.shutdown()
        for w in QApplication.topLevelWidgets():
            if isinstance(w, ModelManagerDialog):
                w.shutdown()
        return rc


if __name__ == "__main__":
    sys.exit(main())
