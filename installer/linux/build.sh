#!/usr/bin/env bash
# Build Fireside for Linux: the PyInstaller one-folder bundle, a .tar.gz of it and a .deb.
#
#   installer/linux/build.sh            (after scripts/install.sh; about two minutes)
#
# Output in dist/: fireside/ (the bundle), fireside-VERSION-linux-ARCH.tar.gz and
# fireside_VERSION_DEBARCH.deb. The llama.cpp inside is the venv's, i.e. the portable wheel
# scripts/install.sh builds (-DGGML_NATIVE=OFF, every CPU variant as a module: GGML_CPU_ALL_VARIANTS),
# never a -march=native one.
#
# Reproducibility: timestamps come from the last commit (SOURCE_DATE_EPOCH, which PyInstaller
# honours too), PyInstaller runs with a fixed PYTHONHASHSEED, the tarball is sorted with fixed
# owners and a gzip header without a name or time, and the .deb is built with root:root
# ownership. See installer/README.md for how far that goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VPY=.venv/bin/python

if [ ! -x "$VPY" ]; then
  echo "No .venv here. Run scripts/install.sh first: it builds the portable llama.cpp wheel." >&2
  exit 1
fi
if ! "$VPY" -c "import PyInstaller" 2>/dev/null; then
  echo "Installing the packaging tools (pyproject.toml's [package] extra) into .venv..."
  "$VPY" -m pip install --quiet -e ".[package]"
fi
for tool in dpkg-deb tar gzip; do
  command -v "$tool" >/dev/null || { echo "build.sh needs $tool (apt-get install dpkg tar gzip)." >&2; exit 1; }
done

# Last commit's time, so two builds of one commit carry the same dates; the clock otherwise.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
VERSION=$("$VPY" -c "import sys; sys.path.insert(0, 'app'); import fireside; print(fireside.__version__)")
DEBARCH=$(dpkg --print-architecture)
ARCH=$(uname -m)
BUILD=build/linux
rm -rf "$BUILD" dist/fireside
mkdir -p "$BUILD" dist

echo "==> Rendering icons"
"$VPY" installer/render_icons.py build/icons

echo "==> PyInstaller (one-folder bundle in dist/fireside)"
start=$(date +%s)
# A fixed hash seed keeps PyInstaller's archive member order stable between runs.
PYTHONHASHSEED=0 "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/fireside.spec
echo "    PyInstaller took $(( $(date +%s) - start )) s"
# A quick look before packaging: a bundle that cannot start must not become a .deb.
FIRESIDE_HOME="$ROOT/$BUILD/check-home" QT_QPA_PLATFORM=offscreen dist/fireside/fireside --version

# Every file gets the commit's time, so archive entries do not carry the build's clock.
stamp() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

echo "==> Tarball"
TARBALL="dist/fireside-$VERSION-linux-$ARCH.tar.gz"
stamp dist/fireside
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C dist -cf - fireside | gzip -n > "$TARBALL"

echo "==> Debian package"
PKG="$BUILD/deb"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/doc/fireside" "$PKG/usr/share/icons/hicolor/scalable/apps"
cp -a dist/fireside "$PKG/opt/fireside"
# The bootloader finds its _internal folder through /proc/self/exe, so a symlink is enough.
ln -s /opt/fireside/fireside "$PKG/usr/bin/fireside"
install -m 644 resources/linux/fireside.desktop "$PKG/usr/share/applications/fireside.desktop"
install -m 644 resources/icons/fireside.svg "$PKG/usr/share/icons/hicolor/scalable/apps/fireside.svg"
for size in 16 22 24 32 48 64 128 256 512; do
  install -D -m 644 "build/icons/png/fireside-$size.png" \
    "$PKG/usr/share/icons/hicolor/${size}x${size}/apps/fireside.png"
done
# The example policy is documentation, not a live /etc file: installing it there would lock
# settings on every machine that installs the package.
install -m 644 installer/policy/policy.example.json "$PKG/usr/share/doc/fireside/policy.example.json"
install -m 644 docs/ADMIN.md "$PKG/usr/share/doc/fireside/ADMIN.md"
cat > "$PKG/usr/share/doc/fireside/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Fireside
License: Apache-2.0
Comment: The bundle in /opt/fireside also holds Python, Qt (LGPL-3.0), llama.cpp (MIT) and the
 Python packages listed in /opt/fireside/_internal/*.dist-info, under their own licenses.
COPYRIGHT

# Qt's xcb platform plugin needs these from the system (one list, kept in scripts/system-deps.sh).
DEPENDS=$(sed -n '/^PKGS="/,/"$/p' scripts/system-deps.sh | tr -d '"' | sed 's/^PKGS=//' | tr -s ' \n' '\n' \
  | grep -v '^fonts-' | grep -v '^$' | paste -sd, - | sed 's/,/, /g')
SIZE_KB=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: fireside
Version: $VERSION
Architecture: $DEBARCH
Maintainer: Fireside <fireside@example.org>
Installed-Size: $SIZE_KB
Depends: $DEPENDS
Recommends: fonts-dejavu-core
Section: utils
Priority: optional
Homepage: https://github.com/fireside/fireside
Description: desktop assistant that runs gpt-oss on this computer
 Fireside chats with OpenAI's open-weight gpt-oss models entirely offline,
 running llama.cpp in-process, with the model's reasoning shown in its own panel.
 .
 Installs to /opt/fireside. Admin policy: /etc/fireside/policy.json (see
 /usr/share/doc/fireside/ADMIN.md). Removing or purging the package never deletes
 conversations, settings, downloaded models, shared models or the policy file.
CONTROL
install -m 755 installer/linux/postinst "$PKG/DEBIAN/postinst"
install -m 755 installer/linux/postrm "$PKG/DEBIAN/postrm"
stamp "$PKG"
DEB="dist/fireside_${VERSION}_${DEBARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null

echo "==> Done"
du -sh dist/fireside "$TARBALL" "$DEB"
