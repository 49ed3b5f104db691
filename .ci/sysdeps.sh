#!/usr/bin/env bash
# Install the Debian packages the test suite needs (Qt offscreen libs, pdftotext/pdftoppm,
# Xvfb). Only when something is missing, and only when we can (root or sudo).
set -u
pkgs=(poppler-utils xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
      libdbus-1-3 libglib2.0-0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0
      libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1 fonts-dejavu-core)
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
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "sysdeps: apt-get install failed for some of: ${missing[*]}" >&2
exit 0
