#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a umockdev testbed directory with N PCI functions.

    gen-testbed.py [--reuse] [--config-dir DIR] OUT_DIR N

umockdev's own loader (umockdev-run -d, add_from_string) is quadratic in the
device count, so this writes the sysfs layout directly; run programs against
it with `UMOCKDEV_DIR=OUT_DIR LD_PRELOAD=libumockdev-preload.so.0`.

The host looks like a large QEMU q35 machine: several PCI domains, each with
several root complexes (pxb-pcie style), root ports packed eight to a slot,
and behind them a repeating mix of
  - a multifunction e1000e with 8 functions sharing one IOMMU group,
  - an XIO3130 switch with 4 downstream ports, each with an NVMe,
  - an SR-IOV NVMe PF with 8 VFs (physfn/virtfnN links, own groups),
  - a PCIe-to-PCI bridge with 4 conventional e1000s (one group with it),
  - a single e1000e, and an empty (hotplug) root port.
Domain 0's root bus also has the host bridge, a boot VGA and the ICH9
LPC/SATA/SMBus functions.  Exactly N functions are written (the last unit is
cut short when N is reached); bus numbers, multifunction bits and SR-IOV
counts follow what was actually written.

Config space bytes are cloned from recorded devices: tests/data/config/*.bin
when present, else this host's /sys/bus/pci/devices/*/config (read only).
A recording is matched by vendor:device and PCIe port type, else by class
(VFs only from VF recordings, whose ID registers read as all ones); a kind
with no fitting recording gets a synthesized header and capabilities.  IDs,
header type, bus numbers, BARs, serial numbers and the SR-IOV capability are
then patched to agree with the other attribute files.

udev properties (ID_VENDOR_FROM_DATABASE, ID_MODEL_FROM_DATABASE, ...) go in
each function's `uevent` file: that is where umockdev keeps them (its preload
redirects /sys, /dev and /proc only, not /run/udev, and libudev reads device
properties from `uevent`).  Names come from the pci.ids database.
"""

import argparse
import glob
import hashlib
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PCI_IDS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids']

# ---------------------------------------------------------------- device kinds
# IDs, BAR sizes, drivers and reset methods as seen in the QEMU guest that
# recorded tests/data/config (see its README and lspci-vvv.txt).
# ids: vendor, device, subsystem vendor, subsystem device
# bars: (index, size, type) with type one of 'io', 'm32', 'm64', 'p64'
# pcie: PCI Express device/port type, None for conventional PCI
KINDS = {
    'host':      dict(ids=(0x8086, 0x29c0, 0x1af4, 0x1100), cls=0x060000, rev=0x00, hdr=0, driver=None, pcie=None),
    'pxb':       dict(ids=(0x1b36, 0x000b, 0x1af4, 0x1100), cls=0x060000, rev=0x00, hdr=0, driver=None, pcie=None),
    'vga':       dict(ids=(0x1234, 0x1111, 0x1af4, 0x1100), cls=0x030000, rev=0x02, hdr=0, driver='bochs-drm',
                      bars=[(0, 16 << 20, 'p64'), (2, 4096, 'm32')], rom=64 << 10, pcie=None),
    'lpc':       dict(ids=(0x8086, 0x2918, 0x1af4, 0x1100), cls=0x060100, rev=0x02, hdr=0, driver='lpc_ich', pcie=None),
    'sata':      dict(ids=(0x8086, 0x2922, 0x1af4, 0x1100), cls=0x010601, rev=0x02, hdr=0, driver='ahci',
                      bars=[(4, 32, 'io'), (5, 4096, 'm32')], pcie=None, msi=True),
    'smbus':     dict(ids=(0x8086, 0x2930, 0x1af4, 0x1100), cls=0x0c0500, rev=0x02, hdr=0, driver='i801_smbus',
                      bars=[(4, 64, 'io')], pcie=None),
    'rootport':  dict(ids=(0x1b36, 0x000c, 0x1b36, 0x0000), cls=0x060400, rev=0x00, hdr=1, driver='pcieport',
                      bars=[(0, 4096, 'm32')], pcie=0x4),
    'usp':       dict(ids=(0x104c, 0x8232, 0x0000, 0x0000), cls=0x060400, rev=0x02, hdr=1, driver='pcieport', pcie=0x5),
    'dsp':       dict(ids=(0x104c, 0x8233, 0x0000, 0x0000), cls=0x060400, rev=0x01, hdr=1, driver='pcieport', pcie=0x6),
    'pcibridge': dict(ids=(0x1b36, 0x000e, 0x1b36, 0x0000), cls=0x060400, rev=0x00, hdr=1, driver=None,
                      bars=[(0, 256, 'm64')], pcie=0x7),
    'e1000e':    dict(ids=(0x8086, 0x10d3, 0x8086, 0x0000), cls=0x020000, rev=0x00, hdr=0, driver='e1000e',
                      bars=[(0, 128 << 10, 'm32'), (1, 128 << 10, 'm32'), (2, 32, 'io'), (3, 16 << 10, 'm32')],
                      rom=256 << 10, pcie=0x0, reset='pm bus', msix=(5, 3)),
    'e1000':     dict(ids=(0x8086, 0x100e, 0x1af4, 0x1100), cls=0x020000, rev=0x03, hdr=0, driver='e1000',
                      bars=[(0, 128 << 10, 'm32'), (1, 64, 'io')], rom=256 << 10, pcie=None),
    'nvme':      dict(ids=(0x1b36, 0x0010, 0x1af4, 0x1100), cls=0x010802, rev=0x02, hdr=0, driver='nvme',
                      bars=[(0, 16 << 10, 'm64')], pcie=0x0, reset='flr bus', flr=True, msix=(65, 0), dsn=True),
    'nvme-vf':   dict(ids=(0x1b36, 0x0010, 0x1af4, 0x1100), cls=0x010802, rev=0x02, hdr=0, driver='nvme',
                      bars=[(0, 16 << 10, 'm64')], pcie=0x0, reset='flr', flr=True, msix=(3, 0), vf=True),
}
for _k in KINDS.values():
    _k.setdefault('bars', [])
    _k.setdefault('rom', 0)
    _k.setdefault('pcie', 0x9 if _k['hdr'] == 0 else None)
    _k.setdefault('reset', '')

NUM_VFS = 8
PORTS_PER_ROOT_COMPLEX = 32
ROOT_PORT_FIRST_SLOT = 0x02
PXB_FIRST_SLOT = 0x10
MAX_EXPANDERS = 15       # slots 0x10..0x1e of a domain's first root bus


class Func:
    __slots__ = ('kind', 'k', 'dom', 'bus', 'slot', 'fn', 'parent', 'rc', 'driver', 'override',
                 'group', 'numa', 'sec', 'sub', 'vf_of', 'vfs', 'vf_index', 'res', 'irq', 'path',
                 'mf', 'children', 'boot_vga', 'reset')

    def __init__(self, kind, dom, bus, slot, fn, parent, rc):
        self.kind, self.k = kind, KINDS[kind]
        self.dom, self.bus, self.slot, self.fn = dom, bus, slot, fn
        self.parent, self.rc = parent, rc
        self.driver = self.k['driver']
        self.override = None
        self.group = None
        self.numa = rc.numa
        self.sec = self.sub = None
        self.vf_of, self.vfs, self.vf_index = None, [], None
        self.res, self.irq, self.path, self.mf = None, 0, None, False
        self.children = []
        self.boot_vga = False
        self.reset = self.k['reset']

    @property
    def addr(self):
        return '%04x:%02x:%02x.%x' % (self.dom, self.bus, self.slot, self.fn)


class RootComplex:
    def __init__(self, dom, bus, numa, index):
        self.dom, self.bus, self.numa, self.index = dom, bus, numa, index
        self.name = 'pci%04x:%02x' % (dom, bus)
        self.ports = 0


class Topology:
    """Builds functions in parent-before-child order, stopping at N."""

    class Full(Exception):
        pass

    def __init__(self, n):
        self.n = n
        self.funcs = []
        self.group = 0
        self.dom = -1
        self.next_bus = 0
        self.rcs = []
        self.rc = None
        self.dom_rc0 = None
        self.pxbs = 0

    def add(self, kind, bus, slot, fn, parent, rc=None, group=None):
        if len(self.funcs) >= self.n:
            raise Topology.Full()
        rc = rc or self.rc
        f = Func(kind, rc.dom, bus, slot, fn, parent, rc)
        f.group = self.new_group() if group is None else group
        if parent:
            parent.children.append(f)
        self.funcs.append(f)
        return f

    def new_group(self):
        g = self.group
        self.group += 1
        return g

    def take_bus(self):
        b = self.next_bus
        self.next_bus += 1
        return b

    def new_domain(self):
        self.dom += 1
        self.next_bus = 0
        rc = RootComplex(self.dom, self.take_bus(), len(self.rcs) % 2, len(self.rcs))
        self.rcs.append(rc)
        self.rc = self.dom_rc0 = rc
        self.pxbs = 0
        self.add('host', rc.bus, 0, 0, None)
        if self.dom == 0:
            vga = self.add('vga', 0, 1, 0, None)
            vga.boot_vga = True
            g = self.new_group()
            self.add('lpc', 0, 0x1f, 0, None, group=g)
            self.add('sata', 0, 0x1f, 2, None, group=g)
            self.add('smbus', 0, 0x1f, 3, None, group=g)

    def new_root_complex(self):
        # an expander host bridge on the domain's first root bus, and a new
        # root bus with its own bus number range
        rc0 = self.dom_rc0
        self.add('pxb', rc0.bus, PXB_FIRST_SLOT + self.pxbs, 0, None, rc=rc0)
        self.pxbs += 1
        rc = RootComplex(self.dom, self.take_bus(), len(self.rcs) % 2, len(self.rcs))
        self.rcs.append(rc)
        self.rc = rc

    def root_port(self, buses_needed):
        """A root port with its secondary bus; opens a new root complex or
        domain when the current one is full."""
        if self.dom < 0:
            self.new_domain()
        elif self.rc.ports >= PORTS_PER_ROOT_COMPLEX:
            if self.pxbs < MAX_EXPANDERS and self.next_bus + 1 + buses_needed <= 256:
                self.new_root_complex()
            else:
                self.new_domain()
        elif self.next_bus + buses_needed > 256:
            self.new_domain()
        rc = self.rc
        i = rc.ports
        rc.ports += 1
        rp = self.add('rootport', rc.bus, ROOT_PORT_FIRST_SLOT + i // 8, i % 8, None)
        rp.sec = self.take_bus()
        return rp

    # --- units behind one root port
    def unit_mf_nic(self, u):
        rp = self.root_port(1)
        g = self.new_group()
        vfio = u % 3 == 2     # every third one is given to a guest
        for fn in range(8):
            f = self.add('e1000e', rp.sec, 0, fn, rp, group=g)
            if vfio:
                f.driver = f.override = 'vfio-pci'

    def unit_switch(self, u):
        rp = self.root_port(6)
        up = self.add('usp', rp.sec, 0, 0, rp)
        up.sec = self.take_bus()
        for i in range(4):
            g = self.new_group()
            dp = self.add('dsp', up.sec, i, 0, up, group=g)
            dp.sec = self.take_bus()
            nv = self.add('nvme', dp.sec, 0, 0, dp, group=g)
            if (u + i) % 4 == 3:
                nv.driver = None

    def unit_sriov(self, u):
        rp = self.root_port(1)
        pf = self.add('nvme', rp.sec, 0, 0, rp)
        for i in range(NUM_VFS):
            n = i + 1     # VF offset 1, stride 1 (ARI)
            vf = self.add('nvme-vf', rp.sec, n >> 3, n & 7, rp)
            vf.vf_of, vf.vf_index = pf, i
            pf.vfs.append(vf)
            if i % 2 == 1:
                vf.driver = vf.override = 'vfio-pci'
            elif i == 6:
                vf.driver = None

    def unit_pci_bridge(self, u):
        rp = self.root_port(2)
        g = self.new_group()
        br = self.add('pcibridge', rp.sec, 0, 0, rp, group=g)
        br.sec = self.take_bus()
        for i in range(4):
            e = self.add('e1000', br.sec, i + 1, 0, br, group=g)
            # as recorded: the kernel offers a bus reset for one of them only
            e.reset = 'bus' if i == 0 else ''

    def unit_single_nic(self, u):
        rp = self.root_port(1)
        self.add('e1000e', rp.sec, 0, 0, rp)

    def unit_empty_port(self, u):
        self.root_port(1)

    UNITS = [unit_mf_nic, unit_switch, unit_sriov, unit_pci_bridge, unit_single_nic, unit_empty_port]

    def build(self):
        try:
            u = 0
            while True:
                self.UNITS[u % len(self.UNITS)](self, u // len(self.UNITS))
                u += 1
        except Topology.Full:
            pass
        self.finish()
        return self.funcs

    def finish(self):
        # subordinate bus numbers: highest bus at or below each bridge
        def walk(f):
            m = f.sec if f.sec is not None else -1
            for c in f.children:
                m = max(m, walk(c))
            if f.sec is not None:
                f.sub = m
            return max(m, f.bus)
        for f in self.funcs:
            if f.parent is None:
                walk(f)
        # multifunction bit: more than one non-VF function in a slot
        slots = {}
        for f in self.funcs:
            if f.vf_of is None:
                slots.setdefault((f.dom, f.bus, f.slot), []).append(f)
        for fl in slots.values():
            if len(fl) > 1:
                for f in fl:
                    f.mf = True
        irq = 16
        for f in self.funcs:
            f.irq = irq
            irq += 1


# ---------------------------------------------------------------- resources
IORESOURCE_IO, IORESOURCE_MEM = 0x100, 0x200
IORESOURCE_PREFETCH, IORESOURCE_MEM_64 = 0x2000, 0x100000
IORESOURCE_SIZEALIGN, IORESOURCE_READONLY = 0x40000, 0x4000
IORESOURCE_WINDOW = 0x200000


def bar_flags(t):
    if t == 'io':
        return IORESOURCE_IO | IORESOURCE_SIZEALIGN | 0x1
    f = IORESOURCE_MEM | IORESOURCE_SIZEALIGN
    if t in ('m64', 'p64'):
        f |= IORESOURCE_MEM_64 | 0x4
    if t == 'p64':
        f |= IORESOURCE_PREFETCH | 0x8
    return f


class Allocator:
    def __init__(self):
        self.mem32 = 0xc0000000
        self.mem64 = 0x8000000000
        self.io = 0x1000

    def get(self, size, t):
        def align(v):
            return (v + size - 1) // size * size
        if t == 'io':
            self.io = align(self.io)
            a, self.io = self.io, self.io + size
        elif t == 'm32':
            self.mem32 = align(self.mem32)
            a, self.mem32 = self.mem32, self.mem32 + size
        else:
            self.mem64 = align(self.mem64)
            a, self.mem64 = self.mem64, self.mem64 + size
        return a


def assign_resources(funcs):
    """Resource lines like the kernel prints: 13 for an endpoint (6 BARs,
    ROM, 6 SR-IOV BARs), 17 for a bridge (+4 windows)."""
    per_domain = {}
    for f in funcs:
        al = per_domain.setdefault(f.dom, Allocator())
        n = 17 if f.k['hdr'] == 1 else 13
        lines = [(0, 0, 0)] * n
        for idx, size, t in f.k['bars']:
            a = al.get(size, t)
            lines[idx] = (a, a + size - 1, bar_flags(t))
        if f.k['rom']:
            a = al.get(f.k['rom'], 'm32')
            lines[6] = (a, a + f.k['rom'] - 1, IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_READONLY | 0x46000)
        if f.vfs:
            # the VFs' BAR0s are one window of the PF: IOV resource 7
            size = f.k['bars'][0][1] * len(f.vfs)
            a = al.get(size, 'm64')
            lines[7] = (a, a + size - 1, bar_flags('m64'))
            for vf in f.vfs:
                s = f.k['bars'][0][1]
                vf.res = [(0, 0, 0)] * 13
                vf.res[0] = (a + vf.vf_index * s, a + (vf.vf_index + 1) * s - 1, bar_flags('m64'))
        if f.sec is not None:
            lines[13] = (0, 0, IORESOURCE_IO | IORESOURCE_WINDOW)
            lines[14] = (0, 0, IORESOURCE_MEM | IORESOURCE_WINDOW)
            lines[15] = (0, 0, IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_MEM_64 | IORESOURCE_WINDOW)
        if f.res is None:
            f.res = lines


# ---------------------------------------------------------------- config space
def read_templates(config_dir):
    """Recorded config spaces: tests/data/config/*.bin when there are any,
    else this host's sysfs (only read)."""
    files = sorted(glob.glob(os.path.join(config_dir, '*.bin'))) if config_dir else []
    source = 'recorded'
    if not files:
        files = sorted(glob.glob('/sys/bus/pci/devices/*/config'))
        source = 'host'
    out = []
    for p in files:
        try:
            with open(p, 'rb') as fh:
                b = fh.read(4096)
        except OSError:
            continue
        if len(b) < 64:
            continue
        vid, did = struct.unpack_from('<HH', b, 0)
        cls = b[0x0b] << 16 | b[0x0a] << 8 | b[0x09]
        out.append(dict(path=p, data=b, vid=vid, did=did, cls=cls, hdr=b[0x0e] & 0x7f,
                        vf=vid == 0xffff, pcie_type=pcie_type(b)))
    return source, out


def std_caps(c):
    """(offset, id) of the standard capabilities (bounded walk)."""
    out, off, hops = [], c[0x34] & 0xfc if c[0x06] & 0x10 else 0, 0
    while off >= 0x40 and off + 1 < len(c) and hops < 48:
        out.append((off, c[off]))
        off = c[off + 1] & 0xfc
        hops += 1
    return out


def pcie_type(c):
    """Device/port type of the PCI Express capability, None without one."""
    for off, cid in std_caps(c):
        if cid == 0x10 and off + 3 < len(c):
            return (c[off + 2] >> 4) & 0xf
    return None


def pick_template(templates, k):
    """A recording of the same vendor:device, else one of the same class
    and header type that is PCI Express exactly when the kind is (a
    conventional recording would hide a PCIe kind's extended capabilities,
    SR-IOV included).  None: synthesize."""
    vid, did = k['ids'][0], k['ids'][1]
    pcie = k['pcie'] is not None
    # a VF's own ID registers read as all ones: VF recordings are told apart
    # by that, and used for VFs only
    same = [t for t in templates if t['hdr'] == k['hdr'] and t['vf'] == bool(k.get('vf'))]
    for pred in (lambda t: (t['vid'], t['did']) == (vid, did) and t['pcie_type'] == k['pcie'],
                 lambda t: (t['vid'], t['did']) == (vid, did),
                 lambda t: t['vf'] and t['cls'] == k['cls'],
                 lambda t: t['cls'] >> 8 == k['cls'] >> 8 and (t['pcie_type'] is not None) == pcie,
                 lambda t: t['cls'] >> 16 == k['cls'] >> 16 and (t['pcie_type'] is not None) == pcie):
        c = [t for t in same if pred(t)]
        if c:
            # the richest recording: most capability bytes, then the longest
            return max(c, key=lambda t: (sum(1 for x in t['data'][0x40:] if x), len(t['data'])))
    return None


def synth_config(k):
    """A plausible header with PM, MSI/MSI-X and PCIe capabilities (and
    AER/ACS/DSN extended ones) for a kind that has no recording."""
    pcie = k['pcie']
    size = 4096 if pcie is not None else 256
    c = bytearray(size)
    struct.pack_into('<H', c, 0x06, 0x0010)          # status: capability list
    c[0x34] = 0x40
    caps = [(0x01, bytes([0x03, 0x00, 0x08, 0x00, 0x00, 0x00]))]  # PM, NoSoftReset
    if k.get('msix'):
        n, bir = k['msix']
        caps.append((0x11, struct.pack('<HII', n - 1, bir | 0x0, bir | 0x800)))
    elif k['hdr'] == 1 or k.get('msi'):
        caps.append((0x05, struct.pack('<HIIH', 0x0080, 0, 0, 0)))
    if k['hdr'] == 1:
        caps.append((0x0d, struct.pack('<HHH', 0, k['ids'][2], k['ids'][3])))
    if pcie is not None:
        devcap = 0x8000 | (0x10000000 if k.get('flr') else 0)
        caps.append((0x10, struct.pack('<HIHH', 0x0002 | pcie << 4, devcap, 0x2810, 0) + bytes(48)))
    off = 0x40
    for i, (cid, body) in enumerate(caps):
        nxt = off + 2 + len(body)
        nxt = (nxt + 15) & ~15 if i + 1 < len(caps) else 0
        c[off] = cid
        c[off + 1] = nxt
        c[off + 2:off + 2 + len(body)] = body
        off = nxt
    if pcie is not None:
        ext = [(0x01, 1, bytes(0x44))]                # AER
        if pcie in (0x4, 0x6):
            ext.append((0x0d, 1, struct.pack('<HH', 0x005f, 0x001d)))   # ACS
        if k.get('dsn'):
            ext.append((0x03, 1, struct.pack('<Q', 0x0102030405060708)))
        put_ext_caps(c, 0x100, ext)
    return c


def put_ext_caps(c, off, ext):
    for i, (cid, ver, body) in enumerate(ext):
        nxt = (off + 4 + len(body) + 7) & ~7 if i + 1 < len(ext) else 0
        struct.pack_into('<I', c, off, cid | ver << 16 | nxt << 20)
        c[off + 4:off + 4 + len(body)] = body
        off = nxt


def ext_caps(c):
    """(offset, id) of each extended capability."""
    out, off, hops = [], 0x100, 0
    while len(c) >= 4096 and off >= 0x100 and hops < 96:
        h = struct.unpack_from('<I', c, off)[0]
        if h == 0 or h == 0xffffffff:
            break
        out.append((off, h & 0xffff))
        off = (h >> 20) & 0xffc
        if off == 0:
            break
        hops += 1
    return out


def add_sriov_cap(c, f):
    """Make a PF's SR-IOV capability agree with its VFs (none: VF Enable off)."""
    vf_did = KINDS['nvme-vf']['ids'][1]
    # capabilities, control (VF Enable, VF MSE, ARI), status, InitialVFs,
    # TotalVFs, NumVFs, dependency link, offset, stride, VF device ID,
    # supported and system page sizes, VF BAR0..5 (BAR0 64-bit), migration
    body = struct.pack('<IHHHHHBBHHHHII6II', 0x2, 0x19 if f.vfs else 0, 0,
                       NUM_VFS, NUM_VFS, len(f.vfs), 0, 0, 1, 1, 0, vf_did,
                       0x553, 0x1, 0x4, 0, 0, 0, 0, 0, 0)
    caps = ext_caps(c)
    for off, cid in caps:
        if cid == 0x10:
            c[off + 4:off + 4 + len(body)] = body
            return c
    if len(c) < 4096:
        c = c + bytearray(4096 - len(c))
    if not caps:
        put_ext_caps(c, 0x100, [(0x10, 1, body)])
        return c
    # append after the last one, in free space at the end of ext config
    last_off = caps[-1][0]
    new_off = 0xf00
    h = struct.unpack_from('<I', c, last_off)[0]
    struct.pack_into('<I', c, last_off, (h & 0xfffff) | new_off << 20)
    put_ext_caps(c, new_off, [(0x10, 1, body)])
    return c


def build_config(f, templates, cache):
    key = (f.kind, len(f.vfs))
    base = cache.get(key)
    if base is None:
        k = f.k
        t = pick_template(templates, k)
        base = bytearray(t['data']) if t else synth_config(k)
        vid, did, svid, sdid = k['ids']
        struct.pack_into('<HH', base, 0, vid, did)
        base[0x08] = k['rev']
        base[0x09], base[0x0a], base[0x0b] = k['cls'] & 0xff, (k['cls'] >> 8) & 0xff, k['cls'] >> 16
        base[0x0e] = k['hdr']
        if k['hdr'] == 0:
            struct.pack_into('<HH', base, 0x2c, svid, sdid)
        if f.vfs or any(cid == 0x10 for _, cid in ext_caps(base)):
            base = add_sriov_cap(base, f)
        cache[key] = base
    c = bytearray(base)
    if f.kind == 'nvme-vf':
        # a VF's own vendor/device registers read as all ones
        struct.pack_into('<I', c, 0, 0xffffffff)
    if f.mf:
        c[0x0e] |= 0x80
    for off, cid in ext_caps(c):
        if cid == 0x10 and f.vfs:   # VF BAR0: where the VFs' BARs are
            start = f.res[7][0]
            struct.pack_into('<II', c, off + 0x24, (start & 0xfffffff0) | 0x4, start >> 32)
        elif cid == 0x03:           # serial numbers are unique
            struct.pack_into('<Q', c, off + 4, 0x525400ff00000000 | f.dom << 16 | f.bus << 8 |
                             f.slot << 3 | f.fn)
    if f.k['hdr'] == 1:
        c[0x18] = f.bus
        c[0x19] = f.sec
        c[0x1a] = f.sub
        nbars = 2
    else:
        nbars = 6
    for i in range(nbars):
        struct.pack_into('<I', c, 0x10 + 4 * i, 0)
    skip = False
    for i in range(nbars):
        if skip:
            skip = False
            continue
        start, _, flags = f.res[i]
        if not flags:
            continue
        if flags & IORESOURCE_IO:
            struct.pack_into('<I', c, 0x10 + 4 * i, (start & 0xfffffffc) | 1)
        elif flags & IORESOURCE_MEM_64:
            lo = (start & 0xfffffff0) | 0x4 | (0x8 if flags & IORESOURCE_PREFETCH else 0)
            struct.pack_into('<II', c, 0x10 + 4 * i, lo, start >> 32)
            skip = True
        else:
            struct.pack_into('<I', c, 0x10 + 4 * i, start & 0xfffffff0)
    if f.k['hdr'] == 0 and f.res[6][2]:
        struct.pack_into('<I', c, 0x30, f.res[6][0] & 0xfffff800)
    c[0x3c] = f.irq & 0xff
    # command: decode what the BARs need, bus master when a driver has it
    cmd = struct.unpack_from('<H', c, 0x04)[0] & ~0x7
    if any(r[2] & IORESOURCE_IO for r in f.res[:6]):
        cmd |= 0x1
    if any(r[2] & IORESOURCE_MEM for r in f.res[:6]) or f.k['hdr'] == 1:
        cmd |= 0x2
    if f.driver or f.k['hdr'] == 1:
        cmd |= 0x4
    struct.pack_into('<H', c, 0x04, cmd)
    return bytes(c)


# ---------------------------------------------------------------- names (pci.ids)
class PciIds:
    def __init__(self):
        self.vendors, self.devices, self.subsys, self.classes = {}, {}, {}, {}
        path = next((p for p in PCI_IDS if os.path.exists(p)), None)
        if path:
            self.load(path)

    def load(self, path):
        vendor = dev = cls = sub = None
        with open(path, encoding='utf-8', errors='replace') as fh:
            for line in fh:
                if not line.strip() or line[0] == '#':
                    continue
                if line.startswith('C '):
                    cls = int(line[2:4], 16)
                    self.classes[(cls,)] = line[4:].strip()
                    vendor = None
                    continue
                if line[0] != '\t':
                    vendor, cls = int(line[:4], 16), None
                    self.vendors[vendor] = line[4:].strip()
                    continue
                if cls is not None:
                    if line.startswith('\t\t'):
                        self.classes[(cls, sub, int(line[2:4], 16))] = line[4:].strip()
                    else:
                        sub = int(line[1:3], 16)
                        self.classes[(cls, sub)] = line[3:].strip()
                    continue
                if vendor is None:
                    continue
                if line.startswith('\t\t'):
                    sv, sd = int(line[2:6], 16), int(line[7:11], 16)
                    self.subsys[(vendor, dev, sv, sd)] = line[11:].strip()
                else:
                    dev = int(line[1:5], 16)
                    self.devices[(vendor, dev)] = line[5:].strip()

    def udev_props(self, ids, cls):
        """The properties udev's hwdb builtin stores for a PCI function."""
        vid, did, svid, sdid = ids
        p = []
        b, s, i = cls >> 16, (cls >> 8) & 0xff, cls & 0xff
        for key, name in (('ID_PCI_CLASS_FROM_DATABASE', self.classes.get((b,))),
                          ('ID_PCI_SUBCLASS_FROM_DATABASE', self.classes.get((b, s))),
                          ('ID_PCI_INTERFACE_FROM_DATABASE', self.classes.get((b, s, i)))):
            if name:
                p.append((key, name))
        if vid in self.vendors:
            p.append(('ID_VENDOR_FROM_DATABASE', self.vendors[vid]))
        model = self.subsys.get((vid, did, svid, sdid)) or self.devices.get((vid, did))
        if model:
            p.append(('ID_MODEL_FROM_DATABASE', model))
        return p


# ---------------------------------------------------------------- writing
def wfile(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data if isinstance(data, bytes) else data.encode())
    finally:
        os.close(fd)


def rel_up(path_below_sys):
    """'../' repeated to climb from a directory at sys/<path> back to sys/."""
    return '../' * (path_below_sys.count('/') + 1)


def write_function(sysdir, f, ids_db, templates, cfg_cache):
    k = f.k
    d = os.path.join(sysdir, f.path)
    os.mkdir(d)
    up = rel_up(f.path)
    vid, did, svid, sdid = k['ids']
    cls = k['cls']
    files = {
        'vendor': '0x%04x\n' % vid,
        'device': '0x%04x\n' % did,
        'subsystem_vendor': '0x%04x\n' % svid,
        'subsystem_device': '0x%04x\n' % sdid,
        'class': '0x%06x\n' % cls,
        'revision': '0x%02x\n' % k['rev'],
        'resource': ''.join('0x%016x 0x%016x 0x%016x\n' % r for r in f.res),
        'numa_node': '%d\n' % f.numa,
        'driver_override': '%s\n' % (f.override or '(null)'),
        'irq': '%d\n' % f.irq,
        'local_cpulist': '%d\n' % f.numa,
        'local_cpus': '%x\n' % (1 << f.numa),
        'enable': '1\n' if f.driver else '0\n',
        'modalias': 'pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n' % (
            vid, did, svid, sdid, cls >> 16, (cls >> 8) & 0xff, cls & 0xff),
        'msi_bus': '1\n',
        'broken_parity_status': '0\n',
        'consistent_dma_mask_bits': '64\n',
        'dma_mask_bits': '64\n',
        'd3cold_allowed': '1\n',
        'ari_enabled': '1\n' if f.vfs else '0\n',
        'power_state': 'D0\n',
    }
    if f.reset:
        files['reset_method'] = f.reset + '\n'
    if (cls >> 8) == 0x0300:
        files['boot_vga'] = '1\n' if f.boot_vga else '0\n'
    if f.sec is not None:
        files['secondary_bus_number'] = '%d\n' % f.sec
        files['subordinate_bus_number'] = '%d\n' % f.sub
    if k['pcie'] is not None:
        files.update({'current_link_speed': '2.5 GT/s PCIe\n', 'current_link_width': '1\n',
                      'max_link_speed': '16.0 GT/s PCIe\n', 'max_link_width': '32\n'})
    config = build_config(f, templates, cfg_cache)
    for off, cid in ext_caps(config):
        if cid == 0x10:     # the kernel shows these for every SR-IOV capable PF
            total, _, offset, stride, _, vf_did = struct.unpack_from('<HHHHHH', config, off + 0x0e)
            files.update({'sriov_totalvfs': '%d\n' % total, 'sriov_numvfs': '%d\n' % len(f.vfs),
                          'sriov_offset': '%d\n' % offset, 'sriov_stride': '%d\n' % stride,
                          'sriov_vf_device': '%x\n' % vf_did, 'sriov_drivers_autoprobe': '1\n'})
    uevent = []
    if f.driver:
        uevent.append('DRIVER=' + f.driver)
    uevent += ['PCI_CLASS=%X' % cls, 'PCI_ID=%04X:%04X' % (vid, did),
               'PCI_SUBSYS_ID=%04X:%04X' % (svid, sdid), 'PCI_SLOT_NAME=' + f.addr,
               'MODALIAS=' + files['modalias'].strip()]
    uevent += ['%s=%s' % kv for kv in ids_db.udev_props(k['ids'], cls)]
    files['uevent'] = '\n'.join(uevent) + '\n'
    for name, content in files.items():
        wfile(os.path.join(d, name), content)
    if f.reset:
        wfile(os.path.join(d, 'reset'), '', 0o200)
    for name in ('remove', 'rescan'):
        wfile(os.path.join(d, name), '', 0o200)
    wfile(os.path.join(d, 'config'), config)
    os.mkdir(os.path.join(d, 'power'))
    wfile(os.path.join(d, 'power', 'control'), 'on\n')
    wfile(os.path.join(d, 'power', 'runtime_status'), 'active\n')
    os.symlink(up + 'bus/pci', os.path.join(d, 'subsystem'))
    if f.driver:
        os.symlink(up + 'bus/pci/drivers/' + f.driver, os.path.join(d, 'driver'))
    if f.group is not None:
        os.symlink(up + 'kernel/iommu_groups/%d' % f.group, os.path.join(d, 'iommu_group'))
    if f.vf_of is not None:
        os.symlink('../' + f.vf_of.addr, os.path.join(d, 'physfn'))
    for i, vf in enumerate(f.vfs):
        os.symlink('../' + vf.addr, os.path.join(d, 'virtfn%d' % i))


def write_testbed(out, funcs, rcs, templates, ids_db):
    sysdir = os.path.join(out, 'sys')
    for p in ('bus/pci/devices', 'bus/pci/drivers', 'bus/pci/slots', 'kernel/iommu_groups',
              'class', 'devices'):
        os.makedirs(os.path.join(sysdir, p))
    for name, mode, content in (('drivers_autoprobe', 0o644, '1\n'), ('drivers_probe', 0o200, ''),
                                ('rescan', 0o200, ''), ('resource_alignment', 0o644, '\n'),
                                ('uevent', 0o200, '')):
        wfile(os.path.join(sysdir, 'bus/pci', name), content, mode)
    for rc in rcs:
        if not any(f.rc is rc for f in funcs):
            continue
        d = os.path.join(sysdir, 'devices', rc.name)
        os.mkdir(d)
        wfile(os.path.join(d, 'uevent'), '')
    # paths: a function's directory is inside its upstream bridge's
    for f in funcs:
        parent = f.parent.path if f.parent else 'devices/' + f.rc.name
        f.path = parent + '/' + f.addr
    drivers, groups = {}, {}
    for f in funcs:
        if f.driver:
            drivers.setdefault(f.driver, []).append(f)
        groups.setdefault(f.group, []).append(f)
    for name, fl in drivers.items():
        d = os.path.join(sysdir, 'bus/pci/drivers', name)
        os.mkdir(d)
        for a in ('bind', 'unbind', 'new_id', 'remove_id', 'uevent'):
            wfile(os.path.join(d, a), '', 0o200)
        for f in fl:
            os.symlink('../../../../' + f.path, os.path.join(d, f.addr))
    for g, fl in groups.items():
        d = os.path.join(sysdir, 'kernel/iommu_groups/%d' % g)
        os.makedirs(os.path.join(d, 'devices'))
        wfile(os.path.join(d, 'type'), 'DMA-FQ\n')
        wfile(os.path.join(d, 'reserved_regions'), '0x00000000fee00000 0x00000000feefffff msi\n')
        for f in fl:
            os.symlink('../../../../' + f.path, os.path.join(d, 'devices', f.addr))
    cfg_cache = {}
    for f in funcs:
        write_function(sysdir, f, ids_db, templates, cfg_cache)
        os.symlink('../../../' + f.path, os.path.join(sysdir, 'bus/pci/devices', f.addr))


def stamp_for(n, templates, source):
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), 'rb') as fh:
        h.update(fh.read())
    h.update(b'N=%d source=%s\n' % (n, source.encode()))
    for t in templates:
        h.update(t['data'])
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out')
    ap.add_argument('n', type=int)
    ap.add_argument('--reuse', action='store_true',
                    help='keep OUT if it was made by this generator with the same N and recordings')
    ap.add_argument('--config-dir', default=os.path.join(HERE, '..', 'tests', 'data', 'config'),
                    help='recorded config spaces (*.bin); default tests/data/config')
    a = ap.parse_args()
    if a.n < 1:
        ap.error('N must be >= 1')
    out = os.path.abspath(a.out)
    if out in ('/', '/sys') or out.startswith('/sys/'):
        ap.error('refusing to write to ' + out)

    source, templates = read_templates(a.config_dir)
    stamp = stamp_for(a.n, templates, source)
    stamp_file = os.path.join(out, '.gen-testbed-stamp')
    if a.reuse and os.path.exists(stamp_file):
        with open(stamp_file) as fh:
            if fh.read().strip() == stamp:
                print('%s: up to date (%d functions)' % (out, a.n))
                return 0

    topo = Topology(a.n)
    funcs = topo.build()
    assign_resources(funcs)
    ids_db = PciIds()

    tmp = out + '.tmp-%d' % os.getpid()
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    try:
        write_testbed(tmp, funcs, topo.rcs, templates, ids_db)
        wfile(os.path.join(tmp, '.gen-testbed-stamp'), stamp + '\n')
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.lexists(out):
        if not os.path.exists(os.path.join(out, 'sys')) and os.listdir(out):
            shutil.rmtree(tmp)
            sys.exit('%s exists and does not look like a testbed; not replacing it' % out)
        shutil.rmtree(out)
    os.rename(tmp, out)
    doms = sorted({f.dom for f in funcs})
    print('%s: %d functions, %d IOMMU groups, %d root complexes in %d domain(s), %d buses; '
          'config from %s (%d recordings)' % (
              out, len(funcs), len({f.group for f in funcs}), len(topo.rcs), len(doms),
              len({(f.dom, f.bus) for f in funcs}), source, len(templates)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
