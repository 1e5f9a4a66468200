#!/usr/bin/python3
"""Compare pci-assignd's Describe() document (`pci-assignctl --json list`)
with the PCI functions as sysfs shows them, and check an strace log of the
daemon for writes under /sys.

    check_inventory.py --describe LIST.json [--truth TRUTH.json | --sysfs /sys]
                       [--strace FILE] [--expect-read-only]

Prints one `ok - ...` or `FAIL - ...` line per check (the caller counts them);
exit status 1 if any check failed.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pci_sysfs  # noqa: E402

# Fields compared one by one: (field in the truth file, field in Describe())
FIELDS = [
    ("vendor_id", "vendor_id"),
    ("device_id", "device_id"),
    ("subsystem_vendor_id", "subsystem_vendor_id"),
    ("subsystem_device_id", "subsystem_device_id"),
    ("class", "class"),
    ("revision", "revision"),
    ("vendor_name", "vendor_name"),
    ("device_name", "device_name"),
    ("driver", "driver"),
    ("driver_override", "driver_override"),
    ("iommu_group", "iommu_group"),
    ("numa_node", "numa_node"),
    ("reset_methods", "reset_methods"),
    ("multifunction", "multifunction"),
    ("bridge", "bridge"),
    ("boot_vga", "boot_vga"),
    ("physical_function", "physical_function"),
    ("virtual_functions", "virtual_functions"),
]

PASSED = 0
FAILED = 0


def report(good, text, details=()):
    global PASSED, FAILED
    if good:
        PASSED += 1
        print(f"ok - {text}")
    else:
        FAILED += 1
        print(f"FAIL - {text}")
        for d in list(details)[:12]:
            print(f"    {d}")
        if len(details) > 12:
            print(f"    ... {len(details) - 12} more")


def check_describe(doc, truth, expect_read_only):
    report(isinstance(doc.get("devices"), list), "Describe() has a devices list")
    report(doc.get("iommu_present") is truth["iommu_present"],
           f"iommu_present is {truth['iommu_present']}",
           [f"daemon says {doc.get('iommu_present')!r}"])
    if expect_read_only:
        report(doc.get("read_only") is True, "read_only is true",
               [f"daemon says {doc.get('read_only')!r}"])
    mine = {d.get("address"): d for d in doc.get("devices") or []}
    real = {d["address"]: d for d in truth["devices"]}
    missing = sorted(set(real) - set(mine))
    extra = sorted(set(mine) - set(real))
    report(not missing and not extra,
           f"the daemon lists exactly the {len(real)} functions of sysfs",
           [f"missing {a}" for a in missing] + [f"not in sysfs {a}" for a in extra])
    for tf, df in FIELDS:
        bad = []
        for a in sorted(set(real) & set(mine)):
            want, got = real[a][tf], mine[a].get(df, "<absent>")
            if want != got:
                bad.append(f"{a}: daemon {got!r}, sysfs {want!r}")
        report(not bad, f"{df} matches sysfs for every function", bad)
    bad = [f"{a}: present={mine[a].get('present')!r}" for a in sorted(mine)
           if a in real and mine[a].get("present") is not True]
    report(not bad, "every listed function is present", bad)
    bad = []
    for a in sorted(set(real) & set(mine)):
        want = [(b["index"], b["start"], b["size"]) for b in real[a]["bars"] if b["type"] == "mem"]
        got = [(b.get("index"), b.get("start"), b.get("size")) for b in mine[a].get("bars") or []]
        if sorted(want) != sorted(got):
            bad.append(f"{a}: daemon {got}, sysfs {want}")
    report(not bad, "memory BARs (index, start, size) match sysfs", bad)
    # groups
    want = {g["id"]: sorted(g["devices"]) for g in truth["groups"]}
    got = {g.get("id"): sorted(g.get("devices") or []) for g in doc.get("groups") or []}
    bad = [f"group {i}: daemon {got.get(i)}, sysfs {want.get(i)}"
           for i in sorted(set(want) | set(got), key=lambda x: (x is None, x))
           if want.get(i) != got.get(i)]
    report(not bad, f"the {len(want)} IOMMU groups and their members match sysfs", bad)
    # API: Viable = every member is bound to a vfio driver, pci-stub, no
    # driver, or is a bridge (what the kernel needs to open the group)
    bad = []
    for g in doc.get("groups") or []:
        members = [real[a] for a in g.get("devices") or [] if a in real]
        want_v = all(m["bridge"] or m["driver"] in ("", "pci-stub") or "vfio" in m["driver"]
                     for m in members)
        if g.get("viable") is not want_v:
            bad.append(f"group {g.get('id')}: daemon viable={g.get('viable')!r}, expected {want_v} "
                       f"({', '.join(m['address'] + '=' + (m['driver'] or '-') for m in members)})")
    report(not bad, "each group's viable flag follows its members' drivers", bad)
    report(doc.get("reservations") == [], "no reservations",
           [f"daemon says {doc.get('reservations')!r}"])


OPEN_RE = re.compile(r'^(?:\d+\s+)?(?:[\d:.]+\s+)?(open|openat|openat2|creat)\((.*)$')
WRITE_RE = re.compile(r'^(?:\d+\s+)?(?:[\d:.]+\s+)?'
                      r'(write|pwrite64|writev|pwritev|pwritev2|ftruncate)\((\d+)<([^>]*)>')
PATH_CALL_RE = re.compile(r'^(?:\d+\s+)?(?:[\d:.]+\s+)?'
                          r'(truncate|mkdir|mkdirat|unlink|unlinkat|rename|renameat|renameat2'
                          r'|symlink|symlinkat|link|linkat|chmod|fchmodat|chown|fchownat)\((.*)$')
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


def under_sys(path):
    return path == "/sys" or path.startswith("/sys/")


def open_target(call, args):
    """(path, flags) of an open-type call, the path made absolute with the
    dirfd annotation that strace -y prints (AT_FDCWD</cwd> or 5</dir>)."""
    m = re.match(r'(?:(AT_FDCWD|\d+)(?:<([^>]*)>)?,\s*)?"((?:[^"\\]|\\.)*)"(?:\.\.\.)?,\s*(.*)', args)
    if call in ("open", "creat"):
        m2 = re.match(r'"((?:[^"\\]|\\.)*)"(?:\.\.\.)?,\s*(.*)', args)
        if not m2:
            return None, ""
        return m2.group(1), (m2.group(2) if call == "open" else "O_CREAT|O_WRONLY|O_TRUNC")
    if not m:
        return None, ""
    dirpath, path, rest = m.group(2), m.group(3), m.group(4)
    if not path.startswith("/") and dirpath:
        path = os.path.join(dirpath, path)
    return path, rest


def check_strace(path):
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError as e:
        report(False, f"strace log {path} readable", [str(e)])
        return
    report(len(lines) > 0, f"strace log has {len(lines)} lines")
    opens = sys_reads = 0
    bad_open, bad_write, bad_other = [], [], []
    for ln in lines:
        m = OPEN_RE.match(ln)
        if m:
            p, rest = open_target(m.group(1), m.group(2))
            if p is None:
                continue
            opens += 1
            if under_sys(p):
                flags = rest.split(",")[0] if m.group(1) != "openat2" else rest
                if any(f in flags for f in WRITE_FLAGS):
                    bad_open.append(ln)
                else:
                    sys_reads += 1
            continue
        m = WRITE_RE.match(ln)
        if m:
            if under_sys(m.group(3)):
                bad_write.append(ln)
            continue
        m = PATH_CALL_RE.match(ln)
        if m and re.search(r'"/sys(/|")', m.group(2)):
            bad_other.append(ln)
    report(sys_reads > 0, f"the daemon read sysfs ({sys_reads} read-only opens under /sys, {opens} opens)")
    report(not bad_open, "the read-only daemon opened nothing under /sys for writing", bad_open)
    report(not bad_write, "the read-only daemon wrote to no /sys file", bad_write)
    report(not bad_other, "the read-only daemon changed no /sys path (mkdir, unlink, ...)", bad_other)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--describe", required=True)
    ap.add_argument("--truth", help="truth JSON (default: read --sysfs now)")
    ap.add_argument("--sysfs", default="/sys")
    ap.add_argument("--strace")
    ap.add_argument("--expect-read-only", action="store_true")
    a = ap.parse_args()
    truth = json.load(open(a.truth)) if a.truth else pci_sysfs.scan(a.sysfs)
    try:
        doc = json.load(open(a.describe))
    except (OSError, ValueError) as e:
        report(False, "pci-assignctl --json list output is JSON", [str(e)])
        doc = None
    if doc is not None:
        report(True, "pci-assignctl --json list output is JSON")
        check_describe(doc, truth, a.expect_read_only)
    if a.strace:
        check_strace(a.strace)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
