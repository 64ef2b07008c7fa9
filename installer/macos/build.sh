#!/usr/bin/env bash
# Build Fireside for macOS: Fireside.app (PyInstaller), a .dmg and a .pkg for /Applications.
#
#   installer/macos/build.sh          (on a Mac, after creating .venv and installing Fireside)
#
# Optional, each skipped with a message when its variable is unset:
#   FIRESIDE_CODESIGN_IDENTITY   "Developer ID Application: ..."  signs the app (hardened runtime)
#   FIRESIDE_INSTALLER_IDENTITY  "Developer ID Installer: ..."    signs the .pkg (productsign)
#   FIRESIDE_NOTARY_PROFILE      a `xcrun notarytool store-credentials` profile: notarize + staple
# Output in dist/: Fireside.app, Fireside-VERSION.dmg, Fireside-VERSION.pkg.
set -euo pipefail
cd "$(dirname "$0")/../.."
VPY=.venv/bin/python

if [ "$(uname -s)" != Darwin ]; then
  echo "installer/macos/build.sh runs on macOS only (it needs hdiutil, pkgbuild and productbuild)." >&2
  exit 1
fi
if [ ! -x "$VPY" ]; then
  echo "No .venv here. Create it and install Fireside first: python3 -m venv .venv && .venv/bin/pip install -e ." >&2
  exit 1
fi
"$VPY" -m pip install --quiet -e ".[package]"
VERSION=$("$VPY" -c "import sys; sys.path.insert(0, 'app'); import fireside; print(fireside.__version__)")
BUILD=build/macos
APP=dist/Fireside.app
rm -rf "$BUILD" "$APP" dist/fireside
mkdir -p "$BUILD" dist

echo "==> Icons and Fireside.app"
"$VPY" installer/render_icons.py build/icons
"$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/fireside.spec
"$APP/Contents/MacOS/fireside" --version  # a bundle that cannot start must not be packaged

echo "==> Code signing (optional)"
if [ -n "${FIRESIDE_CODESIGN_IDENTITY:-}" ]; then
  # Inside out: every library and executable first, the app last (no --deep, which Apple
  # discourages because it signs nested code with the outer code's options).
  find "$APP/Contents" -type f \( -name '*.dylib' -o -name '*.so' -o -perm -u+x \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime \
      --entitlements installer/macos/entitlements.plist --sign "$FIRESIDE_CODESIGN_IDENTITY"
  codesign --force --timestamp --options runtime \
    --entitlements installer/macos/entitlements.plist --sign "$FIRESIDE_CODESIGN_IDENTITY" "$APP"
  codesign --verify --strict --verbose=2 "$APP"
else
  echo "    skipped: FIRESIDE_CODESIGN_IDENTITY is not set (the app is unsigned; Gatekeeper will warn)."
fi

echo "==> Disk image"
DMG="dist/Fireside-$VERSION.dmg"
mkdir -p "$BUILD/dmg"
cp -R "$APP" "$BUILD/dmg/"
ln -s /Applications "$BUILD/dmg/Applications"  # drag-to-install
rm -f "$DMG"
hdiutil create -volname "Fireside $VERSION" -srcfolder "$BUILD/dmg" -fs HFS+ -format UDZO -ov "$DMG"

echo "==> Installer package (installs Fireside.app into /Applications)"
PKG="dist/Fireside-$VERSION.pkg"
pkgbuild --component "$APP" --install-location /Applications \
  --identifier com.fireside.Fireside --version "$VERSION" "$BUILD/Fireside-component.pkg"
productbuild --package "$BUILD/Fireside-component.pkg" --identifier com.fireside.Fireside.installer \
  --version "$VERSION" "$BUILD/Fireside-unsigned.pkg"
if [ -n "${FIRESIDE_INSTALLER_IDENTITY:-}" ]; then
  productsign --timestamp --sign "$FIRESIDE_INSTALLER_IDENTITY" "$BUILD/Fireside-unsigned.pkg" "$PKG"
else
  echo "    productsign skipped: FIRESIDE_INSTALLER_IDENTITY is not set (the .pkg is unsigned)."
  cp "$BUILD/Fireside-unsigned.pkg" "$PKG"
fi

echo "==> Notarization (optional)"
if [ -n "${FIRESIDE_NOTARY_PROFILE:-}" ]; then
  for artifact in "$DMG" "$PKG"; do
    xcrun notarytool submit "$artifact" --keychain-profile "$FIRESIDE_NOTARY_PROFILE" --wait
    xcrun stapler staple "$artifact"
  done
else
  echo "    skipped: FIRESIDE_NOTARY_PROFILE is not set."
fi

echo "==> Done"
du -sh "$APP" "$DMG" "$PKG"
