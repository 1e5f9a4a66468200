#!/bin/bash
# Host-side pre-step of the guest scenario "shipping" (run-test.sh runs
# host/SCENARIO.sh before the boot when it exists):
#
#   tests/vm/host/shipping.sh BUILD_DIR SRC_DIR OUTD
#
# Installs the project the way a distribution package does, prefix /usr, with
# `meson install --destdir OUTD/destdir`; guest/test-shipping.sh copies that
# tree into the guest's root (the tmpfs overlay).
#
# Prefix: dbus-daemon reads bus policies only from /usr/share/dbus-1/system.d
# and /etc/dbus-1/system.d (system.conf), and polkitd (122) reads actions only
# from /usr/share/polkit-1/actions, so an install with meson's default prefix
# /usr/local would not be found by either. BUILD_DIR is installed as is when
# it was configured with --prefix=/usr; otherwise tests/vm/work/build-usr is
# configured from BUILD_DIR's source directory with --prefix=/usr
# -Dtests=false (and BUILD_DIR's -Dman) and built. BUILD_DIR itself is never
# rebuilt or reconfigured.
#
# Prints ok/FAIL lines (the guest replays them in its own count) and notes
# indented by four blanks; exit status 0 when OUTD/destdir is usable.
set -uo pipefail
VM=$(cd "$(dirname "$0")/.." && pwd)
B=${1:?usage: shipping.sh BUILD_DIR SRC_DIR OUTD}
OUTD=${3:?usage: shipping.sh BUILD_DIR SRC_DIR OUTD}
DEST=$OUTD/destdir
IB=$VM/work/build-usr
PY=/usr/bin/python3
ok()   { echo "ok - host: $*"; }
fail() { echo "FAIL - host: $*"; }
note() { echo "    $*"; }

# meson introspect, one value
opt() { meson introspect --buildoptions "$1" 2> /dev/null \
        | $PY -c 'import json,sys; v = next((o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]), ""); print(str(v).lower() if isinstance(v, bool) else v)' "$2" 2> /dev/null; }
srcdir() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
        "$1/meson-info/meson-info.json" 2> /dev/null; }

prefix=$(opt "$B" prefix)
src=$(srcdir "$B")
[ -n "$prefix" ] && [ -d "$src" ] \
    || { fail "meson introspect $B (prefix '$prefix', source '$src')"; exit 1; }
note "BUILD_DIR $B: prefix $prefix, source $src"

if [ "$prefix" = /usr ]; then
    IB=$B
    ok "BUILD_DIR is configured with --prefix=/usr: installing it as is"
else
    # what BUILD_DIR would install, and whether the readers look there
    meson introspect --installed "$B" 2> /dev/null | $PY -c '
import json, sys
read = ("/usr/share/dbus-1/system.d/", "/etc/dbus-1/system.d/", "/usr/share/dbus-1/system-services/",
        "/usr/local/share/dbus-1/system-services/", "/usr/share/polkit-1/actions/")
for dst in sorted(json.load(sys.stdin).values()):
    if "/dbus-1/" in dst or "/polkit-1/" in dst:
        who = "polkitd" if "/polkit-1/" in dst else "dbus-daemon"
        where = f"read by {who}" if dst.startswith(read) else f"NOT read by {who}"
        print(f"    prefix {sys.argv[1]} installs {dst}: {where}")' "$prefix"
    man=$(opt "$B" man)
    if [ -f "$IB/meson-info/meson-info.json" ] && [ "$(srcdir "$IB")" = "$src" ] \
            && [ "$(opt "$IB" prefix)" = /usr ]; then
        :
    else
        rm -rf "$IB"
        if ! meson setup --prefix=/usr -Dtests=false -Dman="${man:-true}" "$IB" "$src" \
                > "$OUTD/meson-setup.log" 2>&1; then
            fail "meson setup --prefix=/usr $IB $src (see $OUTD/meson-setup.log)"
            tail -5 "$OUTD/meson-setup.log" | sed 's/^/    /'
            exit 1
        fi
    fi
    t0=$(date +%s%3N)
    if ninja -C "$IB" > "$OUTD/ninja.log" 2>&1; then
        ok "built $IB (--prefix=/usr -Dtests=false -Dman=${man:-true}) from $src ($(( $(date +%s%3N) - t0 )) ms)"
    else
        fail "ninja -C $IB (see $OUTD/ninja.log)"
        tail -15 "$OUTD/ninja.log" | sed 's/^/    /'
        exit 1
    fi
fi

rm -rf "$DEST"
if meson install -C "$IB" --no-rebuild --destdir "$DEST" > "$OUTD/meson-install.log" 2>&1; then
    (cd "$DEST" && find . ! -type d | sed 's|^\.||' | sort) > "$OUTD/installed.txt"
    ok "meson install --destdir $DEST ($(wc -l < "$OUTD/installed.txt") files)"
else
    fail "meson install -C $IB --destdir $DEST (see $OUTD/meson-install.log)"
    tail -10 "$OUTD/meson-install.log" | sed 's/^/    /'
    exit 1
fi
sed 's/^/    installed: /' "$OUTD/installed.txt"
