#!/usr/bin/env bash
# Build the Layout2Im Studio desktop bundle: dist/layout2im-studio/layout2im-studio (PyInstaller onedir).
#
#   packaging/build.sh            # uses .venv/ when present, else the active Python
#   PYTHON=/path/to/python packaging/build.sh
#
# Needs the dev extra (pip install -e '.[dev]'). On Linux the build machine must have libxcb-icccm4
# and libxcb-keysyms1 (and the other libxcb-* / libxkbcommon-x11 libraries Qt's xcb plugin links):
# PyInstaller copies them from this machine into the bundle, and without them the bundle cannot open an
# X window anywhere. The build runs at low priority (nice) so it does not starve other work.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi

LDCONFIG="$(command -v ldconfig || true)"
for candidate in /sbin/ldconfig /usr/sbin/ldconfig; do
    [[ -z "$LDCONFIG" && -x "$candidate" ]] && LDCONFIG="$candidate"
done
if [[ "$(uname -s)" == "Linux" && -z "$LDCONFIG" ]]; then
    echo "build.sh: warning: no ldconfig, cannot check for libxcb-icccm4 / libxcb-keysyms1" >&2
elif [[ "$(uname -s)" == "Linux" ]]; then
    missing=()
    libs="$("$LDCONFIG" -p 2>/dev/null || true)"
    for lib in libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-image.so.0 libxcb-render-util.so.0 \
               libxcb-cursor.so.0 libxkbcommon-x11.so.0; do
        grep -qF "$lib " <<<"$libs" || missing+=("$lib")
    done
    if (( ${#missing[@]} )); then
        echo "build.sh: missing on this build machine: ${missing[*]}" >&2
        echo "  the bundle could not open an X window without them; on Debian/Ubuntu:" >&2
        echo "  sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-cursor0 libxkbcommon-x11-0" >&2
        exit 1
    fi
fi

if ! ls resources/models/*.safetensors >/dev/null 2>&1; then
    echo "build.sh: warning: resources/models/ has no model file; the bundle will start without a model" >&2
fi

rm -rf dist/layout2im-studio
nice -n 10 "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/layout2im-studio.spec

echo "bundle: $ROOT/dist/layout2im-studio/layout2im-studio"
du -sh dist/layout2im-studio | awk '{print "size: " $1}'
