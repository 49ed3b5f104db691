#!/usr/bin/env bash
# Install the Debian packages the test suite needs (Qt offscreen libs, pdftotext/pdftoppm,
# Xvfb, and for the DICOM tests Orthanc, dicom3tools' dciodvfy and dcmtk's storescu). Only when something is missing, and only when we can (root or sudo).
set -u
pkgs=(poppler-utils xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
      libdbus-1-3 libglib2.0-0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0
      libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1 fonts-dejavu-core
      orthanc dicom3tools dcmtk)
command -v dpkg-query >/dev/null 2>&1 || { echo "sysdeps: not a Debian system; install poppler-utils and Qt's X11/EGL libs yourself"; exit 0; }
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "sysdeps: missing ${missing[*]} (run: sudo apt-get install ${missing[*]}); tests that need them will skip" >&2
    exit 0
  fi
fi
echo "sysdeps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
# The orthanc package starts its system service when installed: in a container without an
# init system that start fails and would leave the package half-configured. A temporary
# policy-rc.d (exit 101: "action forbidden") stops any service start during this install;
# the tests run their own Orthanc on free 127.0.0.1 ports. On a machine with systemd the
# service is also disabled again (no PACS listening on 4242 behind the developer's back).
PRC=/usr/sbin/policy-rc.d
made_prc=0
if [ ! -e "$PRC" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$PRC" >/dev/null && $SUDO chmod 755 "$PRC" && made_prc=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "sysdeps: apt-get install failed for some of: ${missing[*]}" >&2
[ "$made_prc" -eq 1 ] && $SUDO rm -f "$PRC"
if printf '%s\n' "${missing[@]}" | grep -qx orthanc && command -v systemctl >/dev/null 2>&1 \
   && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
exit 0
