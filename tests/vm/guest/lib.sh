# shellcheck shell=bash
# Helpers for guest scenarios (sourced by bash). Every scenario ends with
# `summary`, which prints the line the host greps: "N passed, N failed".
P=/sys/bus/pci/devices
OUT=/vmout
PASSED=0
FAILED=0
[ -f "$OUT/params.sh" ] && . "$OUT/params.sh"

ok()   { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" = 0 ]; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
now_ms() { date +%s%3N; }

drv() { if [ -e "$P/$1/driver" ]; then basename "$(readlink "$P/$1/driver")"; fi; }
grp() { if [ -e "$P/$1/iommu_group" ]; then basename "$(readlink "$P/$1/iommu_group")"; else echo -1; fi; }

# systemd-udevd from the host userland + coldplug, so the udev database carries
# ID_VENDOR_FROM_DATABASE / ID_MODEL_FROM_DATABASE like on a booted host.
# start_udev [SUBSYSTEM...]: coldplug only these subsystems (default: all;
# under TCG every udev worker is slow, and the PCI entries are what counts).
start_udev() {
    local t0 s match=""; t0=$(now_ms)
    for s in "$@"; do match="$match --subsystem-match=$s"; done
    /lib/systemd/systemd-udevd --daemon || { fail "systemd-udevd starts"; return 1; }
    udevadm trigger --type=subsystems --action=add
    udevadm trigger --type=devices --action=add $match
    if udevadm settle --timeout=120; then
        ok "udevd coldplug${match:+ ($*)} + settle ($(( $(now_ms) - t0 )) ms)"
    else
        fail "udevadm settle"
    fi
}

# dbus-daemon --system from the host userland, plus extra policy files ($@)
start_dbus() {
    local f t0; t0=$(now_ms)
    mkdir -p /run/dbus /etc/dbus-1/system.d
    for f in "$@"; do cp "$f" /etc/dbus-1/system.d/; done
    if dbus-daemon --system --fork --print-pid > /run/dbus/pid.txt; then
        ok "dbus-daemon --system starts ($(( $(now_ms) - t0 )) ms)"
    else
        fail "dbus-daemon --system starts"; return 1
    fi
}

# wait_for_name NAME SECONDS: poll the system bus until NAME has an owner
wait_for_name() {
    local end=$(( $(date +%s) + ${2:-30} ))
    while [ "$(date +%s)" -lt $end ]; do
        timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus \
            /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:"$1" 2> /dev/null \
            | grep -q 'boolean true' && return 0
        sleep 0.2
    done
    return 1
}
