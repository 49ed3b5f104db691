#!/usr/bin/env bash
# Smoke test of the built one-folder bundle (run by `make bundle-test`; not part of `make test`).
#
#   bash packaging/smoke_test.sh [BUNDLE_DIR]      (default dist/DentalOsteo)
#
# Checks, each with a time limit, failing loudly (non-zero exit, "SMOKE TEST FAILED: ...") on
# the first problem:
#   1. both executables start and print the version from pyproject.toml (also through symlinks
#      named like the .deb's /usr/bin entries);
#   2. the bundle finds its resources (sample, icons) and reports which model packs it carries;
#   3. the frozen pydicom reads the bundled DICOM sample (+ JPEG Lossless / JPEG 2000 files
#      from ../shared/realdata/dicom when present: pylibjpeg plugins found via entry points);
#   4. the frozen TensorFlow/Keras/tf-keras-vis stack builds, saves, loads and Grad-CAMs a tiny
#      model (--check-ml), so TensorFlow is exercised even when no trained pack is bundled;
#   5. the headless main job screens the bundled sample to a PDF that contains the disclaimer
#      ("not a diagnosis"); with a bundled model pack the result must carry a risk score;
#   6. --screenshot under QT_QPA_PLATFORM=offscreen writes a non-trivial PNG.
# Runs with throw-away config/data folders so it never touches a real user's history.
set -uo pipefail

BUNDLE="${1:-dist/DentalOsteo}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3 || command -v python || true)"

fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
nocr() { tr -d '\r'; }   # Windows consoles end lines with CRLF
step() { echo; echo "== $*"; }
now() { date +%s.%N 2>/dev/null || date +%s; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f s", b-a}'; }

[ -d "$BUNDLE" ] || fail "$BUNDLE: no bundle here; run 'make bundle' first"
BUNDLE="$(cd "$BUNDLE" && pwd)"
EXE=""
[ -f "$BUNDLE/DentalOsteo.exe" ] && EXE=".exe"
GUI="$BUNDLE/DentalOsteo$EXE"
CLI="$BUNDLE/dentalosteo-cli$EXE"
[ -x "$GUI" ] || fail "$GUI missing or not executable"
[ -x "$CLI" ] || fail "$CLI missing or not executable"
INTERNAL="$BUNDLE/_internal"
[ -d "$INTERNAL" ] || fail "$INTERNAL missing (PyInstaller >= 6 one-folder layout expected)"
WINDOWED_NO_STDOUT=0
[ -n "$EXE" ] && WINDOWED_NO_STDOUT=1   # a windowed .exe has no stdout: check its files only
CHECK="$GUI"                            # runs --bundle-info / --check-ml (same binary on Linux/macOS)
[ "$WINDOWED_NO_STDOUT" = 1 ] && CHECK="$CLI"

WANT_VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
[ -n "$WANT_VERSION" ] || fail "cannot read the version from $ROOT/pyproject.toml"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dentalosteo-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export DENTALOSTEO_CONFIG_DIR="$WORK/config" DENTALOSTEO_DATA_DIR="$WORK/data"
export MPLCONFIGDIR="$WORK/mpl"
cd "$WORK" || fail "cannot enter $WORK"   # the bundle must not depend on the current folder
T0="$(now)"

echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)), expected version $WANT_VERSION"

# ---------------------------------------------------------------------------------- 1 version
step "1. version"
out="$(timeout 120 "$CLI" --version 2>&1 | nocr; exit "${PIPESTATUS[0]}")" || fail "dentalosteo-cli --version exited $?: $out"
echo "$out"
[ "$out" = "dentalosteo $WANT_VERSION" ] || fail "dentalosteo-cli --version printed '$out', want 'dentalosteo $WANT_VERSION'"
if [ "$WINDOWED_NO_STDOUT" = 0 ]; then
  out="$(timeout 120 "$GUI" --version 2>&1)" || fail "DentalOsteo --version exited $?: $out"
  echo "$out"
  [ "$out" = "dentalosteo-gui $WANT_VERSION" ] || fail "DentalOsteo --version printed '$out', want 'dentalosteo-gui $WANT_VERSION'"
  # the .deb's /usr/bin entries are symlinks: the bundle must find _internal through them
  ln -s "$GUI" "$WORK/dentalosteo-gui" && ln -s "$CLI" "$WORK/dentalosteo"
  out="$(timeout 120 "$WORK/dentalosteo-gui" --version 2>&1)" || fail "symlinked dentalosteo-gui --version exited $?: $out"
  [ "$out" = "dentalosteo-gui $WANT_VERSION" ] || fail "symlinked dentalosteo-gui printed '$out'"
  out="$(timeout 120 "$WORK/dentalosteo" --version 2>&1)" || fail "symlinked dentalosteo --version exited $?: $out"
  [ "$out" = "dentalosteo $WANT_VERSION" ] || fail "symlinked dentalosteo printed '$out'"
  echo "symlinks ok"
fi

# ---------------------------------------------------------------------------- 2 resources
step "2. resources and model packs"
[ -f "$INTERNAL/resources/samples/phantom_c2.png" ] || fail "resources/samples/phantom_c2.png not bundled"
[ -f "$INTERNAL/resources/icons/dentalosteo_256.png" ] || fail "resources/icons/dentalosteo_256.png not bundled"
HAVE_MODEL=0
[ -f "$INTERNAL/models/default/card.json" ] && [ -f "$INTERNAL/models/default/model.keras" ] && HAVE_MODEL=1
out="$(timeout 120 "$CHECK" --bundle-info 2>&1 | nocr)" || fail "--bundle-info failed: $out"
echo "$out"
echo "$out" | grep -q "frozen True" || fail "the bundle does not run frozen (sys._MEIPASS missing?)"
echo "$out" | grep -q "exists=True" || fail "the bundle does not find its sample image"
echo "default model pack bundled: $([ $HAVE_MODEL = 1 ] && echo yes || echo 'no (rule-based only)')"

# ------------------------------------------------------------------------------- 3 DICOM
step "3. DICOM through the CLI"
out="$(timeout 180 "$CLI" info "$INTERNAL/resources/samples/phantom_c2.dcm" 2>&1)" || fail "dentalosteo info phantom_c2.dcm exited $?: $out"
echo "$out" | head -4
echo "$out" | grep -qi "^format *dicom" || fail "phantom_c2.dcm not read as DICOM"
SHARED_DICOM="$ROOT/../shared/realdata/dicom"
if [ -d "$SHARED_DICOM" ]; then
  for f in pylibjpeg-data/JPEGLosslessSV1/RG2_JPLL.dcm pydicom-data/RG1_J2KR.dcm pylibjpeg-data/JPEGLS/RG2_JLSN.dcm; do
    [ -f "$SHARED_DICOM/$f" ] || continue
    out="$(timeout 180 "$CLI" info "$SHARED_DICOM/$f" 2>&1)" || fail "dentalosteo info $f exited $? (pixel-data plugin missing in the bundle?): $out"
    echo "$f: $(echo "$out" | grep -E '^(width|height|bits_stored)' | tr -s ' ' | tr '\n' ' ')"
  done
else
  echo "(no ../shared/realdata/dicom here: compressed-DICOM checks skipped)"
fi

# -------------------------------------------------------------- 3b DICOM objects + network
step "3b. highdicom result objects and pynetdicom inside the bundle"
DOUT="$WORK/dicom-out"
out="$(timeout 300 "$CLI" screen "$INTERNAL/resources/samples/phantom_c2.dcm" --dicom-out "$DOUT" 2>&1)" \
  || fail "screen --dicom-out exited $? (highdicom data files missing in the bundle?): $out"
n="$(find "$DOUT" -name '*.dcm' | wc -l)"
[ "$n" -ge 1 ] || fail "screen --dicom-out wrote no DICOM object into $DOUT"
# a C-ECHO to a closed local port must fail cleanly (exit 1, one line), not with an ImportError
out="$(timeout 60 "$CLI" send --echo --to NOBODY@127.0.0.1:9 --timeout 3 2>&1)"; rc=$?
[ $rc -ne 0 ] || fail "send --echo to a closed port exited 0"
echo "$out" | grep -q "Traceback\|ImportError\|ModuleNotFoundError" && fail "send --echo crashed in the bundle: $out"
echo "$n DICOM object(s) written; C-ECHO to a closed port: $(echo "$out" | tail -1)"

# ----------------------------------------------------------------------------- 4 ML stack
step "4. TensorFlow / Keras / tf-keras-vis inside the bundle"
t="$(now)"
out="$(timeout 300 "$CHECK" --check-ml 2>&1 | nocr; exit "${PIPESTATUS[0]}")"; rc=$?
echo "$out" | grep -v "^I0000\|^WARNING: All log\|^W0000" | tail -5
[ $rc = 0 ] || fail "--check-ml exited $rc"
echo "$out" | grep -q "^ml ok" || fail "--check-ml did not report 'ml ok'"
echo "$out" | grep -q "could not transform" && fail "AutoGraph cannot read sources in the bundle (module_collection_mode lost?)"
echo "($(elapsed "$t"))"

# ------------------------------------------------------------------------------ 5 headless
step "5. headless screen of the bundled sample -> PDF"
t="$(now)"
PDF="$WORK/report.pdf"
out="$(env -u DISPLAY -u WAYLAND_DISPLAY timeout 600 "$GUI" --headless --out "$PDF" 2>&1)"; rc=$?
echo "$out" | grep -v "^I0000\|^WARNING: All log\|^W0000" | tail -5
[ $rc = 0 ] || fail "headless run exited $rc"
[ -s "$PDF" ] || fail "headless run wrote no PDF at $PDF"
head -c 5 "$PDF" | grep -q "%PDF-" || fail "$PDF is not a PDF"
if command -v pdftotext >/dev/null 2>&1; then
  TEXT="$(pdftotext -layout "$PDF" - 2>/dev/null)" || fail "pdftotext could not read $PDF"
elif "$PY" -c "import pypdf" 2>/dev/null; then
  TEXT="$("$PY" -c "import sys, pypdf; print('\n'.join(p.extract_text() for p in pypdf.PdfReader(sys.argv[1]).pages))" "$PDF")"
else
  fail "need pdftotext (apt install poppler-utils) or pypdf to check the PDF text"
fi
echo "$TEXT" | grep -qi "not a diagnosis" || fail "the PDF lacks the disclaimer text 'not a diagnosis'"
echo "PDF $(wc -c < "$PDF") bytes, disclaimer present ($(elapsed "$t"))"
if [ "$WINDOWED_NO_STDOUT" = 0 ] && [ $HAVE_MODEL = 1 ]; then
  echo "$out" | grep -q "risk [0-9]" || fail "a model pack is bundled but the headless result has no risk score"
  echo "$out" | grep -q "device \(CPU\|GPU\)" || fail "a model pack is bundled but the result names no TensorFlow device"
fi

# ---------------------------------------------------------------------------- 6 screenshot
step "6. --screenshot under QT_QPA_PLATFORM=offscreen"
t="$(now)"
PNG="$WORK/screenshot.png"
out="$(QT_QPA_PLATFORM=offscreen timeout 400 "$GUI" --screenshot "$PNG" "$INTERNAL/resources/samples/phantom_c2.png" 2>&1)"; rc=$?
echo "$out" | grep -v "^I0000\|^WARNING: All log\|^W0000" | tail -5
[ $rc = 0 ] || fail "--screenshot exited $rc"
[ -s "$PNG" ] || fail "--screenshot wrote no file at $PNG"
head -c 8 "$PNG" | od -An -c | grep -q "P   N   G" || fail "$PNG is not a PNG"
size="$(wc -c < "$PNG")"
[ "$size" -gt 20000 ] || fail "$PNG is only $size bytes: an empty window?"
echo "$out" | grep -q "last error" && fail "the GUI reported an error while screening: $(echo "$out" | grep 'last error')"
if [ -n "${SMOKE_KEEP:-}" ]; then mkdir -p "$SMOKE_KEEP" && cp "$PDF" "$PNG" "$SMOKE_KEEP/" && echo "kept in $SMOKE_KEEP"; fi
echo "screenshot $size bytes ($(elapsed "$t"))"

echo
echo "SMOKE TEST PASSED ($(elapsed "$T0"); bundle $(du -sh "$BUNDLE" | cut -f1))"
