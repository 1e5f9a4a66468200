#!/usr/bin/python3
"""Read every PCI function straight from sysfs (no udev, no daemon): the
"truth" that the VM tests and the integration tests compare pci-assignd with.

    pci_sysfs.py [--sysfs /sys] [--udev-db /run/udev/data]   -> JSON on stdout

Field names follow the daemon's Describe() document where one exists.
"""
import argparse
import json
import os
import platform
import sys

PCIE_TYPES = {
    0x0: "endpoint", 0x1: "legacy-endpoint", 0x4: "root-port",
    0x5: "upstream-port", 0x6: "downstream-port", 0x7: "pcie-to-pci-bridge",
    0x8: "pci-to-pcie-bridge", 0x9: "rc-endpoint", 0xa: "rc-event-collector",
}


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def link_name(path):
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def hexint(s, default=-1):
    try:
        return int(s, 16)
    except (TypeError, ValueError):
        return default


def pcie_type(cfg):
    """Port type from the PCI Express capability, "" without one."""
    if len(cfg) < 64 or not (cfg[0x06] & 0x10):
        return ""
    pos, seen = cfg[0x34] & 0xfc, 0
    while pos and pos + 3 < len(cfg) and seen < 48:
        if cfg[pos] == 0x10:
            return PCIE_TYPES.get((cfg[pos + 2] >> 4) & 0xf, "unknown")
        pos, seen = cfg[pos + 1] & 0xfc, seen + 1
    return ""


def bars(resource_text):
    """(index, start, size, kind) of each non-empty BAR from `resource`."""
    out = []
    for i, line in enumerate((resource_text or "").splitlines()[:6]):
        start, end, flags = (int(x, 16) for x in line.split()[:3])
        if start == 0 and end == 0:
            continue
        kind = "io" if flags & 0x100 else "mem" if flags & 0x200 else "other"
        out.append({"index": i, "start": start, "size": end - start + 1,
                    "flags": flags, "type": kind})
    return out


def udev_props(db, address, devdir):
    """udev properties from the udev database; without a database entry (e.g.
    in a umockdev testbed, which keeps the recorded properties in `uevent`)
    from the device's uevent file."""
    props = {}
    text = read(os.path.join(db, "+pci:" + address)) if db else None
    if text is not None:
        for line in text.splitlines():
            if line.startswith("E:") and "=" in line:
                k, v = line[2:].split("=", 1)
                props[k] = v
    else:
        for line in (read(os.path.join(devdir, "uevent"), "") or "").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                props[k] = v
    return props


def function(sysfs, db, address):
    d = os.path.join(sysfs, "bus/pci/devices", address)
    cfg = read_bytes(os.path.join(d, "config"))
    hdr = cfg[0x0e] if len(cfg) > 0x0e else 0
    override = read(os.path.join(d, "driver_override"), "")
    group = link_name(os.path.join(d, "iommu_group"))
    numa = read(os.path.join(d, "numa_node"))
    virtfns = sorted((e for e in os.listdir(d) if e.startswith("virtfn")),
                     key=lambda e: int(e[6:]))
    real = os.path.realpath(d)
    parent = os.path.basename(os.path.dirname(real))
    udev = udev_props(db, address, d)
    return {
        "address": address,
        "vendor_id": hexint(read(os.path.join(d, "vendor"))),
        "device_id": hexint(read(os.path.join(d, "device"))),
        "subsystem_vendor_id": hexint(read(os.path.join(d, "subsystem_vendor"))),
        "subsystem_device_id": hexint(read(os.path.join(d, "subsystem_device"))),
        "class": hexint(read(os.path.join(d, "class"))),
        "revision": hexint(read(os.path.join(d, "revision"))),
        "vendor_name": udev.get("ID_VENDOR_FROM_DATABASE", ""),
        "device_name": udev.get("ID_MODEL_FROM_DATABASE", ""),
        "driver": link_name(os.path.join(d, "driver")) or "",
        "driver_override": "" if override in ("(null)", None) else override,
        "iommu_group": int(group) if group is not None else -1,
        "numa_node": int(numa) if numa not in (None, "") else -1,
        "reset_methods": (read(os.path.join(d, "reset_method"), "") or "").split(),
        "has_reset_file": os.path.exists(os.path.join(d, "reset")),
        "header_type": hdr,
        "multifunction": bool(hdr & 0x80),
        "bridge": (hdr & 0x7f) in (1, 2),
        "boot_vga": read(os.path.join(d, "boot_vga"), "0") == "1",
        "physical_function": link_name(os.path.join(d, "physfn")) or "",
        "virtual_functions": [link_name(os.path.join(d, v)) for v in virtfns],
        "sriov_totalvfs": int(read(os.path.join(d, "sriov_totalvfs"), "0")),
        "sriov_numvfs": int(read(os.path.join(d, "sriov_numvfs"), "0")),
        "pcie_type": pcie_type(cfg),
        "config_size": len(cfg),
        "parent": parent if parent.count(":") == 2 else "",
        "sysfs_path": os.path.relpath(real, sysfs),
        "bars": bars(read(os.path.join(d, "resource"))),
    }


def scan(sysfs="/sys", db="/run/udev/data"):
    devdir = os.path.join(sysfs, "bus/pci/devices")
    devices = [function(sysfs, db, a) for a in sorted(os.listdir(devdir))]
    groups = []
    gdir = os.path.join(sysfs, "kernel/iommu_groups")
    if os.path.isdir(gdir):
        for g in sorted(os.listdir(gdir), key=int):
            members = sorted(os.listdir(os.path.join(gdir, g, "devices")))
            groups.append({"id": int(g), "devices": members,
                           "type": read(os.path.join(gdir, g, "type"), "")})
    return {
        "kernel": platform.release(),
        "iommu_present": bool(groups),
        "devices": devices,
        "groups": groups,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sysfs", default="/sys")
    ap.add_argument("--udev-db", default="/run/udev/data")
    ap.add_argument("--extra", action="append", default=[], metavar="KEY=JSON",
                    help="add a top-level member (value parsed as JSON)")
    a = ap.parse_args()
    doc = scan(a.sysfs, a.udev_db)
    for kv in a.extra:
        k, v = kv.split("=", 1)
        doc[k] = json.loads(v)
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
