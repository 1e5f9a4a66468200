#!/usr/bin/python3
"""Records what pci-assignd's host-usage reader looks at, as the guest kernel
shows it, into OUTDIR (for tests/data/host-usage/vm-hoststacks/):

  sys/   the sysfs subset the walk reads: the dev/block, class/block,
         class/net, block links; per device reached, its dev, ifindex,
         partition, dm/name, loop/backing_file attributes and its slaves/,
         lower_*, multipath/ links; nvme-subsystem controller links;
         /sys/fs/btrfs/<fsid>/devices/ links.  Links are copied as they are
         (relative), so they stay valid inside the copy.  PCI device
         directories are created empty: only their names matter.
  mountinfo, swaps, route, ipv6_route   the /proc tables
  rtnetlink   the raw bytes of one RTM_GETROUTE dump (every family, table)

Read-only on /sys and /proc."""
import os, socket, struct, sys

OUT = sys.argv[1]
SYS = "/sys"
ATTRS = ("dev", "ifindex", "partition", "dm/name", "loop/backing_file", "serial")
LINKDIRS = ("slaves", "multipath")
seen = set()


def dst(path):
    return os.path.join(OUT, "sys", os.path.relpath(path, SYS))


def copy_link(path):
    d = dst(path)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    if not os.path.lexists(d):
        os.symlink(os.readlink(path), d)
    return os.path.realpath(path)


def copy_attr(path):
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError:
        return
    d = dst(path)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    with open(d, "wb") as f:
        f.write(data)


def device(path):
    """A device directory (real path under /sys/devices) and what hangs off it."""
    path = os.path.realpath(path)
    if path in seen or not path.startswith(SYS + "/devices/"):
        return
    seen.add(path)
    os.makedirs(dst(path), exist_ok=True)
    for a in ATTRS:
        if os.path.isfile(os.path.join(path, a)):
            copy_attr(os.path.join(path, a))
    for ld in LINKDIRS:
        p = os.path.join(path, ld)
        if os.path.isdir(p):
            os.makedirs(dst(p), exist_ok=True)
            for e in sorted(os.listdir(p)):
                if os.path.islink(os.path.join(p, e)):
                    device(copy_link(os.path.join(p, e)))
    for e in sorted(os.listdir(path)):
        p = os.path.join(path, e)
        if e.startswith("lower_") and os.path.islink(p):
            device(copy_link(p))
    # an nvme-subsystem head: the controller links next to it
    parent = os.path.dirname(path)
    if "/virtual/nvme-subsystem/" in path and os.path.dirname(parent).endswith("nvme-subsystem"):
        for e in sorted(os.listdir(parent)):
            p = os.path.join(parent, e)
            if e.startswith("nvme") and e[4:].isdigit() and os.path.islink(p):
                device(copy_link(p))
    # partitions: the walk goes up to the disk through the path itself


for top in ("dev/block", "class/block", "class/net", "block"):
    t = os.path.join(SYS, top)
    for e in sorted(os.listdir(t)):
        # not only links there: class/net/bonding_masters is a file
        if os.path.islink(os.path.join(t, e)):
            device(copy_link(os.path.join(t, e)))
bt = os.path.join(SYS, "fs/btrfs")
if os.path.isdir(bt):
    for fsid in sorted(os.listdir(bt)):
        d = os.path.join(bt, fsid, "devices")
        if os.path.isdir(d):
            for e in sorted(os.listdir(d)):
                if os.path.islink(os.path.join(d, e)):
                    device(copy_link(os.path.join(d, e)))

for name, src in (("mountinfo", "/proc/self/mountinfo"), ("swaps", "/proc/swaps"),
                  ("route", "/proc/net/route"), ("ipv6_route", "/proc/net/ipv6_route")):
    with open(src, "rb") as f, open(os.path.join(OUT, name), "wb") as o:
        o.write(f.read())

s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
req = struct.pack("=IHHII", 28, 26, 0x301, 1, 0) + struct.pack("=BBBBBBBBI", 0, 0, 0, 0, 0, 0, 0, 0, 0)
s.send(req)
dump = b""
done = False
while not done:
    chunk = s.recv(65536)
    dump += chunk
    off = 0
    while off + 16 <= len(chunk):
        ln, typ = struct.unpack_from("=IH", chunk, off)
        if typ == 3:
            done = True
        if ln < 16:
            break
        off += (ln + 3) & ~3
with open(os.path.join(OUT, "rtnetlink"), "wb") as o:
    o.write(dump)
print("recorded %d devices into %s" % (len(seen), OUT))
