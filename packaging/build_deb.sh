#!/usr/bin/env bash
# Build dist/dentalosteo_<version>_<arch>.deb from the PyInstaller bundle (`make deb`).
#
#   bash packaging/build_deb.sh [BUNDLE_DIR]        (default dist/DentalOsteo)
#
# The package installs:
#   /opt/dentalosteo/                          the one-folder bundle (DentalOsteo, dentalosteo-cli, _internal/)
#   /usr/bin/dentalosteo-gui -> /opt/dentalosteo/DentalOsteo        (symlink)
#   /usr/bin/dentalosteo     -> /opt/dentalosteo/dentalosteo-cli    (symlink)
#   /usr/share/applications/dentalosteo.desktop                     (menu entry + file associations)
#   /usr/share/icons/hicolor/{16..256}/apps/dentalosteo.png, scalable/apps/dentalosteo.svg
#   /usr/share/mime/packages/dentalosteo.xml   (application/dicom for *.dcm, DICM magic at 128)
#
# Environment: DEB_COMPRESS (zstd|xz|gzip|none, default zstd: dpkg >= 1.21.18, i.e. Debian 12 /
#              Ubuntu 21.10 or newer; use xz for older targets), DEB_LEVEL (default 12),
#              DEB_OUT (output folder, default dist).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/dist/DentalOsteo}" && pwd)"
OUTDIR="${DEB_OUT:-$ROOT/dist}"
COMPRESS="${DEB_COMPRESS:-zstd}"
LEVEL="${DEB_LEVEL:-12}"

die() { echo "build_deb: $*" >&2; exit 2; }
[ -x "$BUNDLE/DentalOsteo" ] || die "$BUNDLE/DentalOsteo not found; run 'make bundle' first"
[ -x "$BUNDLE/dentalosteo-cli" ] || die "$BUNDLE/dentalosteo-cli not found; rebuild with 'make bundle'"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt install dpkg)"

VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
[ -n "$VERSION" ] || die "cannot read the version from pyproject.toml"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
PKG="dentalosteo"
DEB="$OUTDIR/${PKG}_${VERSION}_${ARCH}.deb"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/dentalosteo-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
R="$STAGE/root"
mkdir -p "$R/DEBIAN" "$R/opt" "$R/usr/bin" "$R/usr/share/applications" "$R/usr/share/mime/packages" \
         "$R/usr/share/doc/$PKG"

echo "build_deb: staging $BUNDLE -> /opt/$PKG"
cp -a "$BUNDLE" "$R/opt/$PKG"
# the bundle must be readable by every user; executables stay executable
chmod -R u+rwX,go+rX,go-w "$R/opt/$PKG"
ln -s "/opt/$PKG/DentalOsteo" "$R/usr/bin/dentalosteo-gui"
ln -s "/opt/$PKG/dentalosteo-cli" "$R/usr/bin/dentalosteo"

ICONS="$ROOT/resources/icons"
for s in 16 32 64 128 256; do
  [ -f "$ICONS/dentalosteo_$s.png" ] || continue
  install -D -m 0644 "$ICONS/dentalosteo_$s.png" "$R/usr/share/icons/hicolor/${s}x${s}/apps/dentalosteo.png"
done
[ -f "$ICONS/dentalosteo.svg" ] && install -D -m 0644 "$ICONS/dentalosteo.svg" "$R/usr/share/icons/hicolor/scalable/apps/dentalosteo.svg"
[ -f "$R/usr/share/icons/hicolor/256x256/apps/dentalosteo.png" ] || die "resources/icons/dentalosteo_256.png missing"

cat > "$R/usr/share/applications/dentalosteo.desktop" <<EOF
[Desktop Entry]
Type=Application
Version=1.0
Name=DentalOsteo
GenericName=Osteoporosis screening aid
Comment=Screens dental panoramic radiographs for signs of osteoporosis (a referral aid, not a diagnosis)
Exec=/usr/bin/dentalosteo-gui %F
TryExec=/usr/bin/dentalosteo-gui
Icon=dentalosteo
Terminal=false
Categories=Science;MedicalSoftware;
Keywords=dental;panoramic;radiograph;osteoporosis;DICOM;
MimeType=application/dicom;image/png;image/jpeg;image/tiff;image/bmp;
StartupWMClass=DentalOsteo
StartupNotify=true
EOF

cat > "$R/usr/share/mime/packages/dentalosteo.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/dicom">
    <comment>DICOM image</comment>
    <glob pattern="*.dcm"/>
    <glob pattern="*.dicom"/>
    <magic priority="60">
      <match type="string" value="DICM" offset="128"/>
    </magic>
  </mime-type>
</mime-info>
EOF

cat > "$R/usr/share/doc/$PKG/copyright" <<'EOF'
DentalOsteo - osteoporosis screening aid for dental panoramic radiographs.
A referral aid, never a diagnosis: DXA is the reference standard.
License: Proprietary. Bundled third-party components (Python, Qt/PySide6 (LGPLv3),
TensorFlow (Apache-2.0), NumPy, SciPy, OpenCV, pydicom, pylibjpeg, reportlab,
matplotlib, pyqtgraph, ...) keep their own licenses; see /opt/dentalosteo/_internal/*.dist-info.
EOF

INSTALLED_KB="$(du -sk --apparent-size "$R/opt" "$R/usr" | awk '{s+=$1} END{print s}')"
# Libraries the Qt xcb/wayland platform plugins and TensorFlow load from the system
# (PyInstaller does not bundle libc, libGL/EGL, fontconfig, X11/xcb or D-Bus), and the
# DejaVu font the PDF report uses for non-Latin names (core/report.py).
DEPENDS="libc6 (>= 2.28), libstdc++6, fonts-dejavu-core, libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0, libx11-6, libx11-xcb1, libxkbcommon0, libxkbcommon-x11-0, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xfixes0, libxcb-xkb1"

cat > "$R/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: DentalOsteo team <support@dentalosteo.invalid>
Section: science
Priority: optional
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Recommends: desktop-file-utils, shared-mime-info, hicolor-icon-theme
Homepage: https://dentalosteo.invalid
Description: osteoporosis screening aid for dental panoramic radiographs
 DentalOsteo proposes a region of interest on the inferior mandibular cortex,
 runs a bundled CNN, and shows a risk score, a Klemetti class hint, the
 mandibular cortical width and a Grad-CAM heatmap, and exports a PDF report.
 .
 A referral aid, never a diagnosis: DXA is the reference standard.
 .
 Self-contained: Python, Qt and TensorFlow (CPU) are bundled under
 /opt/dentalosteo; commands dentalosteo-gui and dentalosteo.
EOF

cat > "$R/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database /usr/share/mime || true
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q /usr/share/applications || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
fi
exit 0
EOF
cat > "$R/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "remove" ] || [ "$1" = "purge" ]; then
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database /usr/share/mime || true
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q /usr/share/applications || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
  # Python byte-code caches written next to the bundle at run time, if any
  [ -d /opt/dentalosteo ] && find /opt/dentalosteo -name __pycache__ -type d -prune -exec rm -rf {} + || true
  rmdir /opt/dentalosteo 2>/dev/null || true
fi
exit 0
EOF
chmod 0755 "$R/DEBIAN/postinst" "$R/DEBIAN/postrm"

mkdir -p "$OUTDIR"
echo "build_deb: dpkg-deb -Z$COMPRESS -z$LEVEL (installed size $((INSTALLED_KB / 1024)) MiB)"
t0=$(date +%s)
dpkg-deb --root-owner-group -Z"$COMPRESS" -z"$LEVEL" --threads-max="$(nproc)" --build "$R" "$DEB" >/dev/null
echo "build_deb: wrote $DEB ($(du -h "$DEB" | cut -f1), installed $((INSTALLED_KB / 1024)) MiB, $(( $(date +%s) - t0 )) s)"
