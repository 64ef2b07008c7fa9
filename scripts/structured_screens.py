"""Screenshots of structured answers per preset in a real X window, to look at them as a user would.

    Xvfb :98 -screen 0 1400x900x24 &
    DISPLAY=:98 .venv/bin/python scripts/structured_screens.py OUTDIR

Everything is real: the window, the history (SQLite in a throwaway FIRESIDE_HOME), the preset
editor, and the model (Gemma 3 270M from the test cache, tests/helpers/gemma.py; downloaded once
if missing) answering under the preset's JSON Schema. Saves:
  preset-schema.png        the preset editor with a schema filled in
  preset-schema-error.png  the same with a broken schema: the sentence saying what is wrong
  structured-answer.png    a chat started from the preset: "JSON answer" in the composer, the
                           model's JSON answer in the transcript
Exits 1 when the answer is not JSON that follows the schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from shots import no_display, screens_folder, settle, shoot_screen, shot, start_app, wait_for
from tests.helpers.gemma import cached_gemma
from tests.helpers.json_check import schema_errors

from fireside.core.chat.conversation import Sampling
from fireside.core.config.paths import app_paths
from fireside.core.config.settings import Settings, save_settings
from fireside.core.history.presets import Preset, save_preset
from fireside.ui.history.chat_actions import PresetDialog
from fireside.ui.shell.app import default_engine_factory
from fireside.ui.shell.main_window import MainWindow

SCHEMA = {
    "title": "Weather report",
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "sunny": {"type": "boolean"},
        "temperature_c": {"type": "integer"},
        "wind": {"enum": ["calm", "breeze", "strong", "storm"]},
    },
    "required": ["city", "sunny", "temperature_c", "wind"],
    "additionalProperties": False,
}
QUESTION = "What is the weather like in Lisbon today?"


def editor(window: MainWindow, out: Path) -> None:
    """The preset editor as Chat ▸ Save Chat Settings as Preset… opens it, filled in."""
    dialog = PresetDialog(window, Sampling.for_model(False))
    dialog.name_edit.setText("Weather reporter")
    dialog.json_check.setChecked(True)
    dialog.schema_edit.setPlainText(json.dumps(SCHEMA, indent=2))
    dialog.show()
    dialog.move(window.geometry().center() - dialog.rect().center())
    settle()
    shot(dialog, out / "preset-schema.png")
    broken = json.dumps(SCHEMA, indent=2).replace('"integer"', '"integer",', 1)
    dialog.schema_edit.setPlainText(broken)
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    box.button(QDialogButtonBox.StandardButton.Save).click()
    settle()
    shot(dialog, out / "preset-schema-error.png")
    dialog.reject()
    dialog.deleteLater()


def main() -> int:
    out = screens_folder()
    if no_display(":98"):
        return 2
    start_app()
    paths = app_paths()
    save_settings(Settings(n_ctx=2048), paths.settings_file)
    window = MainWindow(default_engine_factory, settings_path=paths.settings_file, paths=paths,
                        max_tokens=200, sampling=Sampling.for_model(False, seed=7))
    window.setGeometry(0, 0, 1400, 900)
    window.show()
    window.load_model(str(cached_gemma()))
    wait_for(window.modelLoaded, 120_000)
    assert window.history is not None

    editor(window, out)

    save_preset(window.history.store, Preset("Weather reporter", "You report the weather.",
                                             json_schema=json.dumps(SCHEMA)))
    menu = window.chat_actions.presets_menu
    menu.aboutToShow.emit()
    next(a for a in menu.actions() if a.text() == "Weather reporter").trigger()
    window.send_message(QUESTION)
    wait_for(window.replyFinished, 120_000)
    row = window.chat_model.rowCount() - 1
    window.select_row(row)
    window.transcript.scroll_to_bottom()
    shoot_screen(out, "structured-answer.png")
    text = window.chat_model.item(row).text
    window.close()
    window.shutdown()
    try:
        problems = schema_errors(json.loads(text), SCHEMA)
    except ValueError as exc:
        problems = [f"not JSON: {exc}"]
    if problems:
        print(f"the answer does not follow the schema: {problems}\n{text}", file=sys.stderr)
        return 1
    print(f"answer: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
