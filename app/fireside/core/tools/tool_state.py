"""Which tools the user turned on or off, and which they always allow: `tools.json` beside mcp.json.

mcp.json is the user's file, shared with other apps, so Fireside never writes into it; its own
choices live in a small JSON file of its own in the same config folder:

    {"version": 1,
     "servers": {"NAME": {"enabled": true, "disabled_tools": ["t"], "always_allow": ["u"]}},
     "python": {"enabled": true}}

Tools are named by the server's own tool name (not the model-facing name), so renaming nothing
and reordering nothing keeps the choices. A server or tool not mentioned is enabled, never always
allowed. Writes are atomic (temp file, then rename); a damaged file reads as the defaults, with a
problem line, and is replaced on the next change. Every read first checks the file's modification
stamp and rereads it when another process or another ToolState (the window's Tools dialog beside
the inference worker's registry) changed it, so a choice made anywhere counts at the next listing.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILE_NAME = "tools.json"


class ToolState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem = ""
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._data: dict[str, Any] = self._read()

    def _file_stamp(self) -> tuple[int, int, int]:
        try:
            st = self.path.stat()
        except OSError:
            return (0, 0, -1)
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def _fresh(self) -> None:
        """Reread the file if it changed since it was read or written here (call under the lock)."""
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self.problem = ""
            self._data = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            self.problem = (f"{self.path} could not be read ({e.__class__.__name__}); "
                            "every tool is on and none is always allowed until it is saved again.")
            return {}
        if not isinstance(data, dict):
            self.problem = f"{self.path} is not a JSON object; its choices are ignored."
            return {}
        return data

    # -- reading ---------------------------------------------------------------------------------
    def _server(self, name: str) -> dict[str, Any]:
        self._fresh()
        servers = self._data.get("servers")
        entry = servers.get(name) if isinstance(servers, dict) else None
        return entry if isinstance(entry, dict) else {}

    def _names(self, server: str, key: str) -> set[str]:
        items = self._server(server).get(key)
        return {x for x in items if isinstance(x, str)} if isinstance(items, list) else set()

    def server_enabled(self, server: str) -> bool:
        with self._lock:
            return self._server(server).get("enabled", True) is not False

    def tool_enabled(self, server: str, tool: str) -> bool:
        with self._lock:
            return tool not in self._names(server, "disabled_tools")

    def always_allowed(self, server: str, tool: str) -> bool:
        with self._lock:
            return tool in self._names(server, "always_allow")

    def python_enabled(self, default: bool = True) -> bool:
        with self._lock:
            self._fresh()
            py = self._data.get("python")
            value = py.get("enabled", default) if isinstance(py, dict) else default
            return value if isinstance(value, bool) else default

    # -- changing --------------------------------------------------------------------------------
    def set_server_enabled(self, server: str, enabled: bool) -> None:
        self._change(server, lambda e: e.__setitem__("enabled", enabled))

    def set_tool_enabled(self, server: str, tool: str, enabled: bool) -> None:
        self._change(server, lambda e: _toggle(e, "disabled_tools", tool, not enabled))

    def set_always_allow(self, server: str, tool: str, allow: bool) -> None:
        self._change(server, lambda e: _toggle(e, "always_allow", tool, allow))

    def set_python_enabled(self, enabled: bool) -> None:
        with self._lock:
            self._fresh()
            self._data["python"] = {**_dict(self._data.get("python")), "enabled": enabled}
            self._save()

    def _change(self, server: str, edit: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            self._fresh()
            servers = _dict(self._data.get("servers"))
            entry = _dict(servers.get(server))
            edit(entry)
            servers[server] = entry
            self._data["servers"] = servers
            self._save()

    def _save(self) -> None:
        self._data["version"] = 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tools-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = self._file_stamp()
        self.problem = ""


def _dict(v: Any) -> dict[str, Any]:
    return dict(v) if isinstance(v, dict) else {}


def _toggle(entry: dict[str, Any], key: str, item: str, present: bool) -> None:
    items = entry.get(key)
    names = [x for x in items if isinstance(x, str)] if isinstance(items, list) else []
    names = [x for x in names if x != item] + ([item] if present else [])
    entry[key] = sorted(names)
