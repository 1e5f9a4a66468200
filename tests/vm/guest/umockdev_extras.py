#!/usr/bin/python3
"""Make a `umockdev-record` of PCI functions usable for pci-assignd tests.

umockdev records devices only (every record must live under /devices/), so
what pci-assignd also needs from sysfs is missing from a plain recording:
/sys/kernel/iommu_groups/N/devices/*, /sys/bus/pci/drivers/NAME/ and
/sys/bus/pci/drivers_probe, and write-only attributes such as `reset` (the
kernel creates `reset` only when a reset method exists).

umockdev-run and UMockdevTestbed (0.17) create the parent directories of an
attribute and resolve its name relative to the device directory, so an
attribute or link named "../../../kernel/iommu_groups/3/type" in the record of
0000:00:02.0 lands in <testbed>/sys/kernel/iommu_groups/3/type. This script
appends such lines to each PCI function's record, from the live sysfs:

  A: <up>/kernel/iommu_groups/N/type=DMA            (first member of a group)
  L: <up>/kernel/iommu_groups/N/devices/ADDR=../../../../devices/...
  A: <up>/bus/pci/drivers/NAME/bind=                 (first device of a driver)
  A: <up>/bus/pci/drivers/NAME/unbind=
  L: <up>/bus/pci/drivers/NAME/ADDR=../../../../devices/...
  A: <up>/bus/pci/drivers_probe=                     (once)
  A: reset=                                          (if the kernel has one)

    umockdev_extras.py RAW.umockdev [--sysfs /sys] > FIXED.umockdev
"""
import argparse
import os
import sys


def process(text, sysfs):
    records = [r for r in text.split("\n\n") if r.strip()]
    groups_seen, drivers_seen = set(), set()
    probe_done = False
    out = []
    for rec in records:
        lines = rec.strip("\n").split("\n")
        devpath = lines[0][3:] if lines[0].startswith("P: ") else None
        subsystem = next((ln[len("E: SUBSYSTEM="):] for ln in lines
                          if ln.startswith("E: SUBSYSTEM=")), None)
        if devpath is None or subsystem != "pci":
            out.append("\n".join(lines))
            continue
        names = {ln[3:].split("=", 1)[0] for ln in lines if ln[1:3] == ": " and ln[0] in "AHL"}
        real = sysfs + devpath                       # /sys/devices/...
        up = os.path.relpath(sysfs, real)            # ../../..
        addr = os.path.basename(devpath)
        extra = []
        glink = os.path.join(real, "iommu_group")
        if os.path.islink(glink):
            g = os.path.basename(os.readlink(glink))
            gdir = os.path.join(sysfs, "kernel/iommu_groups", g)
            if g not in groups_seen:
                groups_seen.add(g)
                gtype = open(os.path.join(gdir, "type")).read().strip() \
                    if os.path.exists(os.path.join(gdir, "type")) else "DMA"
                extra.append(f"A: {up}/kernel/iommu_groups/{g}/type={gtype}\\n")
            target = os.path.relpath(real, os.path.join(gdir, "devices"))
            extra.append(f"L: {up}/kernel/iommu_groups/{g}/devices/{addr}={target}")
        dlink = os.path.join(real, "driver")
        if os.path.islink(dlink):
            drv = os.path.basename(os.readlink(dlink))
            ddir = os.path.join(sysfs, "bus/pci/drivers", drv)
            if drv not in drivers_seen:
                drivers_seen.add(drv)
                extra.append(f"A: {up}/bus/pci/drivers/{drv}/bind=")
                extra.append(f"A: {up}/bus/pci/drivers/{drv}/unbind=")
            extra.append(f"L: {up}/bus/pci/drivers/{drv}/{addr}={os.path.relpath(real, ddir)}")
        if not probe_done:
            probe_done = True
            extra.append(f"A: {up}/bus/pci/drivers_probe=")
            extra.append(f"A: {up}/bus/pci/rescan=")
        if os.path.exists(os.path.join(real, "reset")) and "reset" not in names:
            extra.append("A: reset=")
        out.append("\n".join(lines + extra))
    return "\n\n".join(out) + "\n\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("record")
    ap.add_argument("--sysfs", default="/sys")
    a = ap.parse_args()
    with open(a.record) as f:
        sys.stdout.write(process(f.read(), a.sysfs))


if __name__ == "__main__":
    main()
