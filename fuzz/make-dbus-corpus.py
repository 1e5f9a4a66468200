#!/usr/bin/python3
"""Writes the seeds of fuzz-dbus (fuzz/corpus/dbus/): call sequences a VM
manager and an admin make, in the input format of fuzz/fuzz-dbus.c.

  fuzz/make-dbus-corpus.py build-fuzz/fuzz/fuzz-dbus fuzz/corpus/dbus

The method numbers are read from the target itself (FUZZ_DBUS_TRACE=1
prints its table), so the seeds follow the daemon's vtables.  Addresses
are indexes into the recorded VM topology in address order
(tests/data/testbeds/q35-vm.truth.json)."""
import os
import subprocess
import sys

target, outdir = sys.argv[1], sys.argv[2]
out = subprocess.run([target, "-runs=0"], env=dict(os.environ, FUZZ_DBUS_TRACE="1"),
                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, check=True).stderr
table = {}
for line in out.splitlines():
    if line.startswith("method "):
        _, n, iface, member = line.split()[:4]
        table[member] = int(n)

WAIT = 0x01            # flags: wait for the replies before
VTYPES = ["b", "s", "u", "as", "i", "(sb)", "v", "o", "t", "a{sv}"]

# addresses, as indexes into the model
E1000E_A, E1000E_B = 1, 2                 # 00:02.0, 00:03.0
MF_0, MF_1 = 3, 4                         # 00:05.0, 00:05.1 (groups 3 and 4)
NVME_PF = 17                              # 01:00.0, with two VFs
BRIDGE_GROUP = (21, 22, 23)               # 04:00.0 PCIe-to-PCI bridge, 05:01.0, 05:02.0


def s(text):                               # a string of the input's own bytes
    b = text.encode()
    assert len(b) < 48 and all(0 < c < 0x80 for c in b)
    return bytes([6, len(b)]) + b


def addr(k):
    return bytes([0, k])


def b(v):
    return bytes([1 if v else 0])


def u(v):
    assert v < 256
    return bytes([0, v])


def array(items):
    assert len(items) < 6
    return bytes([len(items)]) + b"".join(items)


def var(t, value):
    return bytes([VTYPES.index(t)]) + value


def call(member, path=0, values=b"", flags=0):
    return bytes([flags, table[member], 0, path]) + values


def reserve(owner, fns, options=(), flags=0):
    opts = array([s(k) + var(t, v) for k, t, v in options])
    return call("Reserve", 0, s(owner) + array([addr(a) + b(assigned) for a, assigned in fns]) + opts, flags)


ALLOW = bytes([0, 0, 0, 0])
DENY = bytes([1, 1, 1, 1])
CHALLENGE = bytes([2, 2, 2, 2])
MIXED = bytes([0, 3, 4, 1])
R1 = 1                                     # path byte of /org/pciassign1/reservation/r1

seeds = {
    "lifecycle": ALLOW + reserve("vm1", [(E1000E_A, True)])
    + call("Prepare", R1, flags=WAIT) + call("SetInUse", R1, b(True), WAIT)
    + call("SetInUse", R1, b(False), WAIT) + call("Unprepare", R1, flags=WAIT) + call("Release", R1, flags=WAIT),
    "transient-group": ALLOW + reserve("vm2", [(MF_0, True), (MF_1, False)],
                                       [("persistent", "b", b(False)), ("complete-group", "b", b(True)),
                                        ("driver", "s", s("vfio-pci"))])
    + call("Prepare", R1, flags=WAIT) + call("Release", R1, flags=WAIT),
    "bridge-group": ALLOW + reserve("vm3", [(BRIDGE_GROUP[1], True)])
    + reserve("vm3", [(BRIDGE_GROUP[1], True)], [("complete-group", "b", b(True))], WAIT)
    + call("GetPlacement", R1, s("q35"), WAIT) + call("Prepare", R1, flags=WAIT),
    "nvme-pf": ALLOW + reserve("vm4", [(NVME_PF, True)]) + call("Prepare", R1, flags=WAIT)
    + call("Reset", 0, addr(NVME_PF), WAIT),
    "detach": ALLOW + call("Detach", 0, addr(E1000E_B) + s("vfio-pci")) + call("Reset", 0, addr(E1000E_B), WAIT)
    + call("Reattach", 0, addr(E1000E_B), WAIT),
    "denied": DENY + reserve("vm1", [(E1000E_A, True)]) + call("Detach", 0, addr(E1000E_A) + s("vfio-pci")),
    "challenge": CHALLENGE + reserve("vm1", [(E1000E_A, True)]) + call("Reset", 0, addr(E1000E_A), 0x08),
    "mixed-polkit": MIXED + reserve("a", [(E1000E_A, True)]) + reserve("b", [(E1000E_B, True)])
    + reserve("c", [(MF_0, True)]) + call("Prepare", R1, flags=WAIT) + call("Release", 2, flags=WAIT),
    "owners": ALLOW + reserve("vm1", [(E1000E_A, True)]) + reserve("vm2", [(E1000E_A, True)], flags=WAIT)
    + call("CheckAssignable", 0, array([addr(E1000E_A), addr(NVME_PF)]) + s("vm2"), WAIT),
    "queries": ALLOW + call("ListDevices") + call("GetDevice", 0, addr(E1000E_A)) + call("GetGroup", 0, u(17))
    + call("ListReservations") + call("GetReservation", 0, s("r1"))
    + call("CheckAssignable", 0, array([addr(i) for i in (0, 1, 5, 17, 22)]) + s(""))
    + call("Describe") + call("GetManagedObjects")
    + call("Introspect", E1000E_A) + call("GetAll", E1000E_A, s("org.pciassign1.Device"))
    + call("Get", NVME_PF, s("org.pciassign1.Device") + s("Verdict"))
    + call("Set", 0, s("org.pciassign1.Manager") + s("ReadOnly") + var("b", b(True))),
}

os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {outdir}")
