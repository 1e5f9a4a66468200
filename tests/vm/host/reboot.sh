#!/bin/bash
# Host-side pre-step of the guest scenario "reboot": the same
# `meson install --destdir OUTD/destdir` (prefix /usr) as host/shipping.sh.
exec bash "$(dirname "$0")/shipping.sh" "$@"
