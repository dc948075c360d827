#!/usr/bin/env bash
# Install the Layout2Im Studio launcher (.desktop entry, icons, project-file type) for the current user.
#
#   packaging/install-launcher.sh                 # the built bundle if present, else the venv's entry point
#   packaging/install-launcher.sh --bundle DIR    # a bundle folder (holding the layout2im-studio executable)
#   packaging/install-launcher.sh --exec PATH     # any layout2im-studio executable (e.g. .venv/bin/layout2im-studio)
#   packaging/install-launcher.sh --uninstall
#
# Writes only under $XDG_DATA_HOME (default ~/.local/share): applications/layout2im-studio.desktop,
# icons/hicolor/{48x48,128x128,256x256,scalable}/apps/layout2im-studio.*, mime/packages/layout2im-studio.xml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP_ID="layout2im-studio"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor"
MIME="$DATA/mime"
SIZES=(48 128 256)

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

refresh_caches() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" 2>/dev/null || true
    command -v gtk-update-icon-cache >/dev/null && [[ -f "$ICONS/index.theme" ]] \
        && gtk-update-icon-cache -q -f -t "$ICONS" 2>/dev/null || true
    command -v update-mime-database >/dev/null && update-mime-database "$MIME" 2>/dev/null || true
}

uninstall() {
    rm -f "$APPS/$APP_ID.desktop" "$ICONS/scalable/apps/$APP_ID.svg" "$MIME/packages/$APP_ID.xml"
    for s in "${SIZES[@]}"; do rm -f "$ICONS/${s}x${s}/apps/$APP_ID.png"; done
    refresh_caches
    echo "removed the $APP_ID launcher from $DATA"
}

# Quote a path for the Exec key (Desktop Entry spec: double quotes, \ " ` $ escaped, % doubled).
exec_quote() {
    local p="$1"
    if [[ "$p" =~ ^[A-Za-z0-9/._+-]+$ ]]; then printf '%s' "$p"; return; fi
    p="${p//\\/\\\\}"; p="${p//\"/\\\"}"; p="${p//\`/\\\`}"; p="${p//\$/\\\$}"; p="${p//%/%%}"
    # the value is itself a string value: its backslashes are escaped once more
    p="${p//\\/\\\\}"
    printf '"%s"' "$p"
}

EXE=""
while (( $# )); do
    case "$1" in
        --bundle) EXE="$(cd "$2" && pwd)/$APP_ID"; shift 2 ;;
        --exec) EXE="$2"; shift 2 ;;
        --uninstall) uninstall; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-launcher.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [[ -z "$EXE" ]]; then
    for candidate in "$ROOT/dist/$APP_ID/$APP_ID" "$ROOT/.venv/bin/$APP_ID"; do
        if [[ -x "$candidate" ]]; then EXE="$candidate"; break; fi
    done
fi
if [[ -z "$EXE" || ! -x "$EXE" ]]; then
    echo "install-launcher.sh: no $APP_ID executable found${EXE:+ at $EXE}." >&2
    echo "  build the bundle (packaging/build.sh) or install the package (pip install -e .), or pass --exec PATH" >&2
    exit 1
fi
EXE="$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")"

mkdir -p "$APPS" "$ICONS/scalable/apps" "$MIME/packages"
install -m 644 "$ROOT/resources/icons/$APP_ID.svg" "$ICONS/scalable/apps/$APP_ID.svg"
for s in "${SIZES[@]}"; do
    mkdir -p "$ICONS/${s}x${s}/apps"
    install -m 644 "$ROOT/resources/icons/$APP_ID-$s.png" "$ICONS/${s}x${s}/apps/$APP_ID.png"
done

# Project files (*.l2i.json) open with the app.
cat > "$MIME/packages/$APP_ID.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/x-layout2im-project">
    <comment>Layout2Im Studio project</comment>
    <sub-class-of type="application/json"/>
    <icon name="layout2im-studio"/>
    <glob pattern="*.l2i.json" weight="60"/>
  </mime-type>
</mime-info>
XML

QUOTED="$(exec_quote "$EXE")"
TRY_EXEC="${EXE//\\/\\\\}"
DESKTOP="$APPS/$APP_ID.desktop"
while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
        TryExec=*) printf 'TryExec=%s\n' "$TRY_EXEC" ;;
        Exec=*) printf 'Exec=%s %%f\n' "$QUOTED" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$ROOT/packaging/$APP_ID.desktop" > "$DESKTOP.tmp"
chmod 644 "$DESKTOP.tmp"
mv "$DESKTOP.tmp" "$DESKTOP"

if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$DESKTOP"
fi
refresh_caches
echo "installed $DESKTOP"
echo "  runs: $EXE"
echo "  icons: $ICONS/{48x48,128x128,256x256,scalable}/apps/$APP_ID.*"
