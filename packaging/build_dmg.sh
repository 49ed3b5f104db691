#!/usr/bin/env bash
# Build dist/DentalOsteo-<version>-macos-<arch>.dmg on a Mac (`make dmg`).
#
# Needs macOS (hdiutil), Python 3.11 and the project venv (`make venv`). Builds
# dist/DentalOsteo.app with packaging/dentalosteo.spec (its BUNDLE section) unless it exists
# (REBUILD=1 forces a rebuild), optionally signs and notarizes it, then packs a compressed
# disk image with an /Applications shortcut for drag-and-drop installation.
#
# Environment:
#   PYTHON             Python of the build venv (default .venv/bin/python)
#   REBUILD=1          rebuild the .app even if dist/DentalOsteo.app exists
#   CODESIGN_IDENTITY  "Developer ID Application: ..." to sign (hardened runtime); unsigned otherwise
#   NOTARY_PROFILE     keychain profile for `xcrun notarytool` (needs CODESIGN_IDENTITY)
#
# Not buildable on our Linux machines: this script refuses to run anywhere but macOS.
set -euo pipefail

die() { echo "build_dmg: $*" >&2; exit 2; }
[ "$(uname -s)" = "Darwin" ] || die "needs macOS (hdiutil and a macOS Python); on Linux use 'make deb'"
command -v hdiutil >/dev/null || die "hdiutil not found"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || die "$PY not found; run 'make venv' first"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)"
ARCH="$(uname -m)"
APP="$ROOT/dist/DentalOsteo.app"
DMG="$ROOT/dist/DentalOsteo-$VERSION-macos-$ARCH.dmg"

if [ ! -d "$APP" ] || [ "${REBUILD:-0}" = "1" ]; then
  "$PY" -c "import PyInstaller" 2>/dev/null || "$PY" -m pip install --quiet 'pyinstaller>=6.10,<7'
  "$PY" -m PyInstaller --noconfirm --clean --log-level WARN packaging/dentalosteo.spec \
    --distpath dist --workpath build/pyinstaller
fi
[ -d "$APP" ] || die "$APP was not built (is the spec's BUNDLE section active? it is on macOS only)"

# The one-folder bundle next to the .app is what the smoke test exercises.
if [ -x "$ROOT/dist/DentalOsteo/DentalOsteo" ] && [ "${SKIP_SMOKE:-0}" != "1" ]; then
  bash packaging/smoke_test.sh dist/DentalOsteo
fi

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  echo "build_dmg: signing with $CODESIGN_IDENTITY"
  codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
else
  echo "build_dmg: CODESIGN_IDENTITY not set: the .app is unsigned (Gatekeeper will ask users to right-click > Open)"
fi

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/dentalosteo-dmg.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "DentalOsteo $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
hdiutil verify "$DMG"

if [ -n "${NOTARY_PROFILE:-}" ] && [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$CODESIGN_IDENTITY" "$DMG"
  xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi
echo "build_dmg: wrote $DMG ($(du -h "$DMG" | cut -f1); app $(du -sh "$APP" | cut -f1))"
