#!/bin/bash
# Prepare the VM test tier on a Debian 12 host (run as root). Idempotent.
#
#   tests/vm/setup.sh
#
# - installs the Debian packages the harness and the guest need (the guest runs
#   the host's own userland over 9p, so udev, dbus, pciutils, python3, strace and
#   umockdev must be installed on the host);
# - downloads (does not install) the kernel that linux-image-amd64 points at,
#   unpacks it into work/kernel/ and runs depmod;
# - builds the busybox initramfs work/initramfs.cpio.gz.
# Everything generated lives in tests/vm/work/ (gitignored).
set -euo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
WORK=$VM/work
mkdir -p "$WORK"
t0=$(date +%s)

log() { echo "setup: $*"; }

# --- host packages -----------------------------------------------------------
PKGS="qemu-system-x86 busybox-static cpio kmod socat xz-utils bc strace
      umockdev pciutils udev dbus python3 coreutils util-linux"
need=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
    log "installing:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi

# --- kernel --------------------------------------------------------------------
KDIR=$WORK/kernel
if [ ! -s "$KDIR/vmlinuz" ] || [ ! -s "$KDIR/release" ]; then
    [ -n "$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/')" ] \
        || apt-get update -qq
    PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$PKG" ] || { log "cannot resolve the kernel package behind linux-image-amd64"; exit 1; }
    log "kernel package: $PKG"
    rm -rf "$KDIR.tmp"; mkdir -p "$KDIR.tmp/deb"
    # apt-get download writes into the current directory; _apt needs to write there
    (cd "$KDIR.tmp/deb" && chmod 777 . && apt-get download "$PKG" 2>&1 \
        | grep -v 'Download is performed unsandboxed' || true)
    DEB=$(ls "$KDIR.tmp"/deb/*.deb 2>/dev/null | head -1)
    [ -n "$DEB" ] || { log "apt-get download $PKG failed"; exit 1; }
    dpkg-deb -x "$DEB" "$KDIR.tmp/root"
    rm -f "$DEB"
    KV=$(ls "$KDIR.tmp/root/lib/modules" | head -1)
    depmod -b "$KDIR.tmp/root" "$KV"
    cp "$KDIR.tmp/root/boot/vmlinuz-$KV" "$KDIR.tmp/vmlinuz"
    echo "$KV" > "$KDIR.tmp/release"
    rm -rf "$KDIR"; mv "$KDIR.tmp" "$KDIR"
fi
KV=$(cat "$KDIR/release")
KROOT=$KDIR/root
log "kernel $KV"

# --- initramfs -----------------------------------------------------------------
# What is needed to reach the host root over 9p, plus the drivers every
# scenario loads (from RAM: much faster than over 9p under TCG); any other
# module is loaded after switch_root from work/kernel/root (bind-mounted on
# /lib/modules).
INITRD=$WORK/initramfs.cpio.gz
STAMP=$(cat "$VM/guest/init" "$KDIR/release" "$VM/setup.sh" | md5sum | cut -d' ' -f1)
if [ ! -s "$INITRD" ] || [ "$(cat "$WORK/initramfs.stamp" 2>/dev/null)" != "$STAMP" ]; then
    STAGE=$WORK/initrd.d
    rm -rf "$STAGE"
    mkdir -p "$STAGE"/{bin,sbin,proc,sys,dev,run,tmp,newroot,lower,rw,etc,lib/modules/"$KV"}
    cp /bin/busybox "$STAGE/bin/busybox"
    for a in sh mount mkdir ln cat echo; do ln -sf busybox "$STAGE/bin/$a"; done
    DEP=$KROOT/lib/modules/$KV/modules.dep
    declare -A seen
    add() {
        local rel=$1 line d
        [ -n "${seen[$rel]:-}" ] && return 0
        seen[$rel]=1
        mkdir -p "$STAGE/lib/modules/$KV/$(dirname "$rel")"
        cp "$KROOT/lib/modules/$KV/$rel" "$STAGE/lib/modules/$KV/$rel"
        line=$(grep -E "^$rel:" "$DEP")
        for d in ${line#*:}; do add "$d"; done
    }
    for m in virtio_pci 9pnet_virtio 9p overlay vfio_iommu_type1 vfio-pci e1000e e1000 nvme; do
        pat=${m//[-_]/[-_]}
        rel=$(grep -oE "^[^:]*/$pat\.ko(\.xz|\.zst)?:" "$DEP" | head -1 | tr -d :)
        if [ -z "$rel" ]; then
            grep -qE "/$pat\.ko" "$KROOT/lib/modules/$KV/modules.builtin" \
                || { log "module $m not found"; exit 1; }
            continue
        fi
        add "$rel"
    done
    cp "$KROOT/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$STAGE/lib/modules/$KV/"
    depmod -b "$STAGE" "$KV"
    install -m 0755 "$VM/guest/init" "$STAGE/init"
    (cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    echo "$STAMP" > "$WORK/initramfs.stamp"
    log "built $INITRD ($(du -h "$INITRD" | cut -f1))"
fi
mkdir -p "$WORK/out" "$WORK/logs"
log "done in $(( $(date +%s) - t0 )) s"
