"""Is there a screen for the window? Answered before PySide6 is imported.

Without a display (over SSH, on a server) Qt aborts the process (exit 134) with advice to
reinstall it, and on a server without libEGL even `import PySide6.QtGui` fails. The command line
checks here first and exits 2 with one sentence instead. Windows and macOS always have a
session for a desktop app; on Linux and other Unix Qt needs X11 (DISPLAY) or Wayland
(WAYLAND_DISPLAY), unless QT_QPA_PLATFORM names a platform that draws without one (offscreen
for tests, vnc, eglfs and linuxfb on kiosks). This module imports nothing from Qt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# Qt platform plugins that need no window system (or that we cannot judge, like a custom one).
NEEDS_NOTHING = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb",
                           "vkkhrdisplay", "directfb"})
WITHOUT_ONE = "`fireside chat` and `fireside serve` work without one"


def _platforms(env: Mapping[str, str]) -> list[str]:
    """QT_QPA_PLATFORM's plugin names in the order Qt tries them ("wayland;xcb", "vnc:size=…")."""
    raw = env.get("QT_QPA_PLATFORM", "")
    return [p.split(":", 1)[0].strip().lower() for p in raw.split(";") if p.strip()]


def no_display_reason(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """None when Qt can open a window here; otherwise the one line to print (exit 2)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform in ("win32", "darwin", "cygwin"):
        return None
    has_x11, has_wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    names = _platforms(env)
    if not names:  # Qt's own choice: Wayland or X11, whichever the session offers
        if has_x11 or has_wayland:
            return None
        why = "DISPLAY and WAYLAND_DISPLAY are not set"
    else:
        for name in names:  # Qt falls back along the list
            if name == "xcb":
                if has_x11:
                    return None
            elif name.startswith("wayland"):
                if has_wayland:
                    return None
            else:
                return None  # offscreen, vnc, eglfs…, or a plugin we do not know: Qt decides
        needed = sorted({"DISPLAY" if n == "xcb" else "WAYLAND_DISPLAY" for n in names})
        why = f"QT_QPA_PLATFORM={env.get('QT_QPA_PLATFORM')} but {' and '.join(needed)} " \
              f"{'is' if len(needed) == 1 else 'are'} not set"
    return (f"The Fireside window needs a graphical session and none was found ({why}); "
            f"{WITHOUT_ONE}.")
