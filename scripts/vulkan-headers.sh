#!/usr/bin/env bash
# Print the directory of Vulkan headers new enough for llama.cpp's Vulkan backend, fetching them once.
#
# Debian 12's headers (1.3.239) lack vk::LayerSettingEXT, which ggml-vulkan.cpp uses. Debian 13's
# libvulkan-dev (1.4.309) has them: its .deb is downloaded with apt from the trixie suite through a
# private apt state (nothing from trixie is installed, the system's sources are untouched) and only
# its usr/include is unpacked into the cache. Prints nothing and exits 1 when they cannot be had.
set -euo pipefail
VERSION="1.4.309"
DEST="${FIRESIDE_VULKAN_HEADERS:-$HOME/.cache/fireside/vulkan-headers-$VERSION}"
if [ -f "$DEST/include/vulkan/vulkan.hpp" ]; then echo "$DEST/include"; exit 0; fi
if ! printf '#include <vulkan/vulkan.hpp>\nvk::LayerSettingEXT s;\n' | c++ -x c++ -fsyntax-only - 2>/dev/null; then
  :  # the system headers are too old (or absent): fetch newer ones below
else
  exit 1  # the system headers are new enough; CMake finds them itself
fi
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$work/sources.list"
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1
      -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || exit 1
(cd "$work" && apt-get "${opts[@]}" download "libvulkan-dev=$VERSION*" >/dev/null 2>&1) || exit 1
dpkg-deb -x "$work"/libvulkan-dev_*.deb "$work/x"
mkdir -p "$DEST" && rm -rf "$DEST/include" && cp -r "$work/x/usr/include" "$DEST/include"
echo "$DEST/include"
