"""Render Fireside's icon from its one source, resources/icons/fireside.svg.

    .venv/bin/python installer/render_icons.py OUT_DIR

writes OUT_DIR/png/fireside-<N>.png (16..512), OUT_DIR/fireside.ico (Windows) and
OUT_DIR/fireside.icns (macOS), and refreshes the window icon copy in app/fireside/resources/
(the app package must carry its own copy so `pip install` and the frozen app both find it).
Qt's SVG renderer works offscreen, so this runs on a build machine without a display.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "resources" / "icons" / "fireside.svg"
APP_COPY = ROOT / "app" / "fireside" / "resources" / "fireside.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry can say it is
# Apple's PNG-carrying icns types: https://en.wikipedia.org/wiki/Apple_Icon_Image_format
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def render_png(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise RuntimeError(f"Qt could not encode the {size}px icon as PNG")
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico holding PNG images (allowed since Vista), largest last."""
    sizes = sorted(pngs)
    head = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, blobs = b"", b""
    for s in sizes:
        data = pngs[s]
        dim = 0 if s >= 256 else s  # 0 means 256 in the directory entry
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return head + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(ICNS_TYPES[s] + struct.pack(">I", 8 + len(pngs[s])) + pngs[s] for s in sorted(pngs))
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: render_icons.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    _app = QGuiApplication.instance() or QGuiApplication([])  # QImage text/paint needs one
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        print(f"render_icons: {SOURCE} is not an SVG Qt can read", file=sys.stderr)
        return 1
    pngs = {s: render_png(renderer, s) for s in SIZES}
    (out / "png").mkdir(parents=True, exist_ok=True)
    for s, data in pngs.items():
        (out / "png" / f"fireside-{s}.png").write_bytes(data)
    (out / "fireside.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (out / "fireside.icns").write_bytes(icns({s: pngs[s] for s in ICNS_TYPES}))
    shutil.copyfile(SOURCE, out / "fireside.svg")
    if APP_COPY.read_bytes() != SOURCE.read_bytes() if APP_COPY.exists() else True:
        shutil.copyfile(SOURCE, APP_COPY)
        print(f"render_icons: refreshed {APP_COPY.relative_to(ROOT)}")
    print(f"render_icons: {len(pngs)} PNGs, fireside.ico and fireside.icns in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
