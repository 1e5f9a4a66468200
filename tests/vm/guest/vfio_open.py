#!/usr/bin/python3
"""Open a PCI function through the VFIO API the way a VMM (QEMU) does.

    vfio_open.py [--hold SECONDS] [--expect-reset] [--no-reset] ADDRESS

Standard library only (runs on the host's /usr/bin/python3 inside the VM
guest).  Steps, each printed as one "vfio: ..." line:
  open /dev/vfio/vfio, VFIO_GET_API_VERSION (must be 0),
  VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU) (must be 1),
  open /dev/vfio/N (N: the function's iommu_group), VFIO_GROUP_GET_STATUS
  (the VIABLE flag must be set), VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU
  (TYPE1v2), VFIO_GROUP_GET_DEVICE_FD(ADDRESS), VFIO_DEVICE_GET_INFO
  (num_regions, num_irqs, flags), VFIO_DEVICE_RESET if the device reports
  VFIO_DEVICE_FLAGS_RESET (unless --no-reset).
--expect-reset: fail if the device does not report VFIO_DEVICE_FLAGS_RESET.
--hold SECONDS: after the steps, print "vfio: holding device fd" and keep
  every fd open for SECONDS (a running VMM; unbinding the function from
  vfio-pci blocks meanwhile), then close them and print "vfio: released".
Exit status 0 if every step worked, 1 otherwise (the failing step is
printed as "vfio: FAIL ...").  The last line on success is one JSON object
with what was found ("vfio-result: {...}").
"""
import argparse
import errno
import fcntl
import json
import os
import struct
import sys
import time

# linux/vfio.h: _IO(VFIO_TYPE, VFIO_BASE + n), VFIO_TYPE ';', VFIO_BASE 100
def _io(nr):
    return (ord(";") << 8) | (100 + nr)

VFIO_GET_API_VERSION = _io(0)
VFIO_CHECK_EXTENSION = _io(1)
VFIO_SET_IOMMU = _io(2)
VFIO_GROUP_GET_STATUS = _io(3)
VFIO_GROUP_SET_CONTAINER = _io(4)
VFIO_GROUP_UNSET_CONTAINER = _io(5)
VFIO_GROUP_GET_DEVICE_FD = _io(6)
VFIO_DEVICE_GET_INFO = _io(7)
VFIO_DEVICE_GET_REGION_INFO = _io(8)
VFIO_DEVICE_GET_IRQ_INFO = _io(9)
VFIO_DEVICE_RESET = _io(11)

VFIO_API_VERSION = 0
VFIO_TYPE1v2_IOMMU = 3
VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1
VFIO_DEVICE_FLAGS_RESET = 1 << 0
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_PCI_CONFIG_REGION_INDEX = 7


class Fail(Exception):
    pass


def say(msg):
    print("vfio: " + msg, flush=True)


def ms_since(t0):
    return (time.monotonic() - t0) * 1000.0


def ioctl_int(fd, req, arg, what):
    try:
        return fcntl.ioctl(fd, req, arg)
    except OSError as e:
        raise Fail("%s: %s (errno %d %s)" % (what, os.strerror(e.errno), e.errno,
                                             errno.errorcode.get(e.errno, "?")))


def ioctl_buf(fd, req, buf, what):
    """buf is a bytearray, passed by pointer and updated in place; returns
    the ioctl's return value."""
    try:
        return fcntl.ioctl(fd, req, buf, True)
    except OSError as e:
        raise Fail("%s: %s (errno %d %s)" % (what, os.strerror(e.errno), e.errno,
                                             errno.errorcode.get(e.errno, "?")))


def run(address, hold, expect_reset, do_reset):
    result = {"address": address}
    fds = []
    try:
        try:
            group = int(os.path.basename(os.readlink(
                "/sys/bus/pci/devices/%s/iommu_group" % address)))
        except OSError as e:
            raise Fail("%s has no iommu_group: %s" % (address, e.strerror))
        result["group"] = group
        try:
            drv = os.path.basename(os.readlink("/sys/bus/pci/devices/%s/driver" % address))
        except OSError:
            drv = ""
        result["driver"] = drv

        try:
            container = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise Fail("open /dev/vfio/vfio: %s" % e.strerror)
        fds.append(container)
        ver = ioctl_int(container, VFIO_GET_API_VERSION, 0, "VFIO_GET_API_VERSION")
        say("VFIO_GET_API_VERSION = %d" % ver)
        if ver != VFIO_API_VERSION:
            raise Fail("VFIO_GET_API_VERSION = %d, expected %d" % (ver, VFIO_API_VERSION))
        ext = ioctl_int(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU,
                        "VFIO_CHECK_EXTENSION(TYPE1v2)")
        say("VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU) = %d" % ext)
        if ext != 1:
            raise Fail("VFIO_TYPE1v2_IOMMU not supported")

        gpath = "/dev/vfio/%d" % group
        try:
            gfd = os.open(gpath, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise Fail("open %s: %s" % (gpath, e.strerror))
        fds.append(gfd)
        st = bytearray(struct.pack("II", 8, 0))
        ioctl_buf(gfd, VFIO_GROUP_GET_STATUS, st, "VFIO_GROUP_GET_STATUS")
        _, gflags = struct.unpack("II", st)
        result["group_flags"] = gflags
        say("VFIO_GROUP_GET_STATUS(%s): flags=0x%x (viable=%d)"
            % (gpath, gflags, bool(gflags & VFIO_GROUP_FLAGS_VIABLE)))
        if not gflags & VFIO_GROUP_FLAGS_VIABLE:
            raise Fail("group %d is not viable (a member is bound to a host driver)" % group)

        ioctl_buf(gfd, VFIO_GROUP_SET_CONTAINER, bytearray(struct.pack("i", container)),
                  "VFIO_GROUP_SET_CONTAINER")
        say("VFIO_GROUP_SET_CONTAINER ok")
        ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU, "VFIO_SET_IOMMU(TYPE1v2)")
        say("VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU) ok")

        name = bytearray(address.encode() + b"\0")
        dfd = ioctl_buf(gfd, VFIO_GROUP_GET_DEVICE_FD, name,
                        "VFIO_GROUP_GET_DEVICE_FD(%s)" % address)
        fds.append(dfd)
        say("VFIO_GROUP_GET_DEVICE_FD(%s) = fd %d" % (address, dfd))

        info = bytearray(struct.pack("IIII", 16, 0, 0, 0))
        ioctl_buf(dfd, VFIO_DEVICE_GET_INFO, info, "VFIO_DEVICE_GET_INFO")
        _, dflags, nreg, nirq = struct.unpack("IIII", info)
        result.update(flags=dflags, num_regions=nreg, num_irqs=nirq,
                      pci=bool(dflags & VFIO_DEVICE_FLAGS_PCI),
                      reset_flag=bool(dflags & VFIO_DEVICE_FLAGS_RESET))
        say("VFIO_DEVICE_GET_INFO: flags=0x%x (reset=%d pci=%d) num_regions=%d num_irqs=%d"
            % (dflags, bool(dflags & VFIO_DEVICE_FLAGS_RESET), bool(dflags & VFIO_DEVICE_FLAGS_PCI),
               nreg, nirq))
        if not dflags & VFIO_DEVICE_FLAGS_PCI:
            raise Fail("VFIO_DEVICE_GET_INFO: not a PCI device (flags 0x%x)" % dflags)

        # the config space region, what every VMM reads first
        if nreg > VFIO_PCI_CONFIG_REGION_INDEX:
            ri = bytearray(struct.pack("IIIIQQ", 32, 0, VFIO_PCI_CONFIG_REGION_INDEX, 0, 0, 0))
            ioctl_buf(dfd, VFIO_DEVICE_GET_REGION_INFO, ri, "VFIO_DEVICE_GET_REGION_INFO(config)")
            _, _, _, _, size, offset = struct.unpack("IIIIQQ", ri)
            ids = os.pread(dfd, 4, offset)
            vendor, device = struct.unpack("<HH", ids)
            result.update(vendor="%04x" % vendor, device="%04x" % device, config_size=size)
            say("config region: size %d, vendor:device %04x:%04x" % (size, vendor, device))

        if expect_reset and not dflags & VFIO_DEVICE_FLAGS_RESET:
            raise Fail("VFIO_DEVICE_FLAGS_RESET not set (flags 0x%x)" % dflags)
        if do_reset and dflags & VFIO_DEVICE_FLAGS_RESET:
            t0 = time.monotonic()
            ioctl_int(dfd, VFIO_DEVICE_RESET, 0, "VFIO_DEVICE_RESET")
            result["reset_ms"] = round(ms_since(t0), 1)
            say("VFIO_DEVICE_RESET ok (%.1f ms)" % result["reset_ms"])
        elif do_reset:
            say("VFIO_DEVICE_RESET skipped: the device reports no reset")

        if hold > 0:
            say("holding device fd for %g s" % hold)
            result["held_s"] = hold
            time.sleep(hold)
    finally:
        for fd in reversed(fds):
            try:
                os.close(fd)
            except OSError:
                pass
        if hold > 0 and fds:
            say("released")
    print("vfio-result: " + json.dumps(result, sort_keys=True), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hold", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--expect-reset", action="store_true")
    ap.add_argument("--no-reset", action="store_true")
    ap.add_argument("address")
    a = ap.parse_args()
    try:
        run(a.address, a.hold, a.expect_reset, not a.no_reset)
    except Fail as e:
        say("FAIL %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
