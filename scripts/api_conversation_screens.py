"""A conversation a script made through the local API, as the window shows it, in a real X window.

    Xvfb :96 -screen 0 1400x900x24 &
    DISPLAY=:96 .venv/bin/python scripts/api_conversation_screens.py OUTDIR

The window serves its loaded model (the scripted engine) on 127.0.0.1; a separate process, the
official `openai` client, asks with `store` through `/v1/responses`: a question with a function
tool (the model calls it), then, with `previous_response_id`, the function's output (the model
answers). The sidebar lists the chain as one conversation marked "API ·", which is then opened.
Saves:
  api-conversation.png   the stored chain opened: question, reasoning, the call and its output, answer
"""

from __future__ import annotations

import os
import subprocess
import sys

from shots import MODEL, no_display, screens_folder, settle, shoot_screen, start_app, wait_for
from tests.helpers.stubs import ScriptedEngine

from fireside.core.chat.events import ToolCall
from fireside.core.config.paths import app_paths
from fireside.ui.shell.main_window import MainWindow

KEY = "fs-demo-key"
REASONING = ["The user wants tonight's weather for the harbour walk. ",
             "I have get_weather; Bergen is the city. ", "Call it, then answer briefly."]
ANSWER = ["Tonight in **Bergen**: 9 °C, light rain clearing after 21:00. ",
          "Take a waterproof jacket for the harbour walk; the wind drops later."]
CLIENT = r"""
import sys, openai
c = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0, timeout=60)
tools = [{"type": "function", "name": "get_weather", "description": "Weather for a city tonight",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}]
r1 = c.responses.create(model="", instructions="You help plan evening walks. Be brief.",
                        input="What's the weather for a harbour walk in Bergen tonight?",
                        tools=tools, reasoning={"effort": "low"})
call = next(o for o in r1.output if o.type == "function_call")
r2 = c.responses.create(model="", previous_response_id=r1.id, tools=tools, input=[
    {"type": "function_call_output", "call_id": call.call_id,
     "output": '{"temp_c": 9, "sky": "light rain, clearing after 21:00", "wind": "falling"}'}])
print(r2.id, r2.output_text[:40])
"""


def main() -> int:
    out = screens_folder()
    if no_display(":96"):
        return 2
    os.environ["FIRESIDE_API_KEY"] = KEY
    start_app()
    paths = app_paths()
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text("api_port = 0\n")
    engine = ScriptedEngine(reasoning=REASONING, answer=ANSWER, tool_steps=[
        [ToolCall("functions.get_weather", '{"city":"Bergen"}', content_type="json")]])
    window = MainWindow(lambda: engine, settings_path=paths.settings_file, paths=paths)
    window.setGeometry(0, 0, 1400, 900)
    window.show()
    window.load_model(MODEL)
    wait_for(window.modelLoaded)
    url = window.api_server.start()
    client = subprocess.Popen([sys.executable, "-c", CLIENT, url, KEY], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while client.poll() is None:
        settle(200)
    stdout, stderr = client.communicate()
    if client.returncode != 0:
        print(f"the API client failed:\n{stderr}", file=sys.stderr)
        return 1
    print(f"client: {stdout.strip()}")
    sidebar = window.sidebar
    assert sidebar is not None
    for _ in range(50):
        if sidebar.list.count():
            break
        settle(100)
    item = sidebar.list.item(0)
    print(f"sidebar: {item.text()!r}")
    sidebar.list.itemClicked.emit(item)
    settle(500)
    window.select_row(window.chat_model.rowCount() - 1)
    shoot_screen(out, "api-conversation.png", 500)
    window.api_server.stop()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
