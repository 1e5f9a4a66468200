#!/bin/bash
# Installs the Debian 12 packages a task needs, only those missing.
#   scripts/install-deps.sh demo|test|fuzz|bench
set -euo pipefail

demo_pkgs="meson ninja-build pkg-config gcc libc6-dev libsystemd-dev libudev-dev
  libjson-c-dev dbus-daemon udev"
test_pkgs="$demo_pkgs libglib2.0-dev umockdev libumockdev-dev valgrind scdoc
  libxml2-utils systemd python3 python3-dbusmock python3-gi pciutils strace
  qemu-system-x86 busybox-static cpio kmod socat xz-utils bc polkitd"
# the VM scenario hoststacks builds btrfs, device-mapper, swap and a bond in
# the guest with the host's tools
test_pkgs="$test_pkgs btrfs-progs dmsetup e2fsprogs util-linux iproute2"
# libFuzzer (scripts/fuzz.sh): clang's fuzzer and sanitizer runtimes are in
# libclang-rt-14-dev (only recommended by clang-14), llvm-symbolizer in llvm-14
fuzz_extra_pkgs="clang-14 libclang-rt-14-dev llvm-14"
fuzz_pkgs="$demo_pkgs $fuzz_extra_pkgs"
test_pkgs="$test_pkgs $fuzz_extra_pkgs"
# bench/run-all.sh: the benchmarks' testbeds, baselines and bus, and the plot
# (the VM benchmark's own packages come with tests/vm/setup.sh)
bench_pkgs="$demo_pkgs libglib2.0-dev umockdev libumockdev-dev systemd python3
  pciutils pci.ids gnuplot-nox"

case "${1:-}" in
  demo) want=$demo_pkgs ;;
  test) want=$test_pkgs ;;
  fuzz) want=$fuzz_pkgs ;;
  bench) want=$bench_pkgs ;;
  *) echo "usage: $0 demo|test|fuzz|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages:$missing" >&2
  echo "Run this command as root (or install them with apt-get) first." >&2
  exit 1
fi
echo "Installing:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
