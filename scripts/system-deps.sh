#!/usr/bin/env bash
# Install the system libraries Qt and the llama.cpp build need on Debian/Ubuntu, only when some are missing.
# Without root (or apt-get) it prints the command for you to run instead.
set -euo pipefail
PKGS="libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0
libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core"
# --test adds the tools the installer tests use: shellcheck lints installer/**/*.sh,
# desktop-file-validate checks the .desktop entry the .deb ships, xmllint the MSI/ADMX files;
# dbus-daemon and gnome-keyring give the keyring test a real Secret Service (tests/helpers/secret_service.py);
# python3 (Debian's) runs the python tool's sandbox as an unprivileged user in tests/core/tools;
# mesa-vulkan-drivers is lavapipe, the software Vulkan device the GPU-path tests run on.
# glslc, libvulkan-dev and spirv-headers build llama.cpp's Vulkan backend (install.sh); libvulkan1 is its loader.
[ "$(uname -m)" = x86_64 ] && PKGS="$PKGS glslc libvulkan-dev libvulkan1 spirv-headers"
[ "${1:-}" = "--test" ] && PKGS="$PKGS shellcheck desktop-file-utils libxml2-utils dbus-daemon gnome-keyring python3 mesa-vulkan-drivers"
[ "$(uname -s)" = Linux ] || exit 0
command -v dpkg-query >/dev/null 2>&1 || exit 0
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system libraries:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "Fireside's window needs these system packages: sudo apt-get install$missing" >&2
fi
