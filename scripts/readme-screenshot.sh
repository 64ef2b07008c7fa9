#!/usr/bin/env bash
# Regenerate docs/screenshot.png: the real Fireside window on a virtual X screen (Xvfb), with
# the scripted engine replaying a gpt-oss-style reply (reasoning + answer), since gpt-oss-20b
# itself does not fit a screenshot job. Needs: apt-get install xvfb
set -euo pipefail
cd "$(dirname "$0")/.."
display=":$((RANDOM % 400 + 100))"
Xvfb "$display" -screen 0 1400x900x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
DISPLAY="$display" QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot.py --size 1200x760 \
  "${1:-docs/screenshot.png}"
