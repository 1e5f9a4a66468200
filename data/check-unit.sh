#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-unit.sh UNIT: runs `systemd-analyze verify` on the generated
# pci-assignd.service and fails on any complaint (unknown or misspelt keys
# are only warnings to systemd, so stderr must be empty too).
# The installed ExecStart= binary does not exist before `meson install`, so a
# copy of the unit whose ExecStart= names an existing executable is checked.
# Exit 77 (skipped) when systemd-analyze is missing or cannot run here.
set -eu

unit=$1
sa=$(command -v systemd-analyze) || { echo "SKIP: no systemd-analyze"; exit 77; }
true_bin=$(command -v true)
case $true_bin in /*) ;; *) true_bin=/bin/true ;; esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$unit" .in)
sed "s|^ExecStart=[^ ]*|ExecStart=$true_bin|" "$unit" >"$tmp/$name"

rc=0
"$sa" verify --man=no "$tmp/$name" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
if grep -q -e 'Failed to initialize manager' -e 'Failed to set up' -e 'Operation not permitted' "$tmp/out"; then
        echo "SKIP: systemd-analyze verify cannot run in this environment"
        exit 77
fi
if [ "$rc" -ne 0 ] || [ -s "$tmp/out" ]; then
        echo "FAIL: systemd-analyze verify $name (rc=$rc)"
        exit 1
fi
echo "ok: systemd-analyze verify $name"
