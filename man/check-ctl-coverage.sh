#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-ctl-coverage.sh [--strict] PCI_ASSIGNCTL MANPAGE
#
# Every command and every long option that `PCI_ASSIGNCTL --help` lists must
# be documented in pci-assignctl.1.scd: a command as a "*verb*" line in the
# COMMANDS section, an option as "*--option*" anywhere in the page.
# Commands the page documents but --help does not list are warnings (errors
# with --strict).
# Exit status: 0 ok, 1 mismatch, 2 usage.
set -eu

strict=0
if [ "${1:-}" = "--strict" ]; then
        strict=1
        shift
fi
[ $# -eq 2 ] || { echo "usage: $0 [--strict] PCI_ASSIGNCTL MANPAGE" >&2; exit 2; }
ctl=$1
page=$2
[ -r "$page" ] || { echo "$0: cannot read $page" >&2; exit 2; }

help=$("$ctl" --help) || { echo "FAIL: $ctl --help failed" >&2; exit 1; }

# Commands: the first word of each "  verb ..." line between "Commands:" and
# the next blank line.
help_cmds=$(printf '%s\n' "$help" | awk '
        /^Commands:/ { on = 1; next }
        on && /^$/ { on = 0 }
        on && /^  [a-z]/ { print $1 }' | sort -u)
help_opts=$(printf '%s\n' "$help" | grep -o -e '--[a-z][a-z-]*' | sort -u)
page_cmds=$(awk '
        /^# / { on = ($0 == "# COMMANDS"); next }
        on && /^\*[a-z][a-z-]*\*/ { s = $0; sub(/^\*/, "", s); sub(/\*.*/, "", s); print s }' "$page" | sort -u)

[ -n "$help_cmds" ] || { echo "FAIL: no commands found in $ctl --help" >&2; exit 1; }

status=0
for c in $help_cmds; do
        if ! printf '%s\n' "$page_cmds" | grep -q -x -F -e "$c"; then
                echo "FAIL: command \"$c\" of $ctl --help is not documented in $page"
                status=1
        fi
done
for o in $help_opts; do
        if ! grep -q -F -e "*$o*" -e "*$o=" "$page"; then
                echo "FAIL: option \"$o\" of $ctl --help is not documented in $page"
                status=1
        fi
done
for c in $page_cmds; do
        if ! printf '%s\n' "$help_cmds" | grep -q -x -F -e "$c"; then
                if [ "$strict" -eq 1 ]; then
                        echo "FAIL: command \"$c\" is documented but not in $ctl --help"
                        status=1
                else
                        echo "warning: command \"$c\" is documented but not in $ctl --help"
                fi
        fi
done

[ "$status" -eq 0 ] && echo "ok: every command and option of $ctl --help is documented in $page"
exit "$status"
