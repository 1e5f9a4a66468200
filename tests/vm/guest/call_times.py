#!/usr/bin/python3
"""Per-call latency of pci-assignd's rebind/reset methods, from a
dbus-monitor log (default output format) that saw the method calls to
org.pciassign1 and the replies:

    dbus-monitor --system "type='method_call',destination='org.pciassign1'" \
        "type='method_return'" "type='error'" > calls.log
    call_times.py calls.log

Prints one line per call, in call order: "METHOD TARGET: N ms -> ok" or
"-> ERROR-NAME", N being the time between the call and its reply as the
bus delivered them (what the daemon took, without the client's own start
under TCG).  Standard library only."""
import re
import sys

METHODS = {"Prepare", "Unprepare", "Release", "SetInUse", "Detach", "Reattach", "Reset", "Reserve"}
HEAD = re.compile(r"^(method call|method return|error) time=([0-9.]+) sender=(\S+) -> "
                  r"destination=(\S+)(.*)$")


def field(rest, name):
    m = re.search(r"\b%s=([^\s;]+)" % name, rest)
    return m.group(1) if m else None


def main(path):
    calls = {}
    done = []
    pending_arg = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = HEAD.match(line)
            if not m:
                if pending_arg is not None:
                    a = re.match(r'^\s+(string|boolean) "?([^"]*)"?$', line)
                    if a:
                        calls[pending_arg]["arg"] = a.group(2)
                    pending_arg = None
                continue
            pending_arg = None
            kind, t, sender, dest, rest = m.groups()
            t = float(t)
            if kind == "method call":
                member = field(rest, "member")
                if member not in METHODS:
                    continue
                key = (sender, field(rest, "serial"))
                p = field(rest, "path") or ""
                calls[key] = {"t": t, "member": member, "target": p.rsplit("/", 1)[-1], "arg": ""}
                pending_arg = key
            else:
                key = (dest, field(rest, "reply_serial"))
                c = calls.pop(key, None)
                if c is None:
                    continue
                res = "ok" if kind == "method return" else field(rest, "error_name")
                done.append((c["t"], c, (t - c["t"]) * 1000.0, res))
    for _, c, ms, res in sorted(done, key=lambda x: x[0]):
        target = c["target"] if c["target"] != "pciassign1" else ""
        what = " ".join(x for x in (target, c["arg"]) if x)
        print("%s %s: %.0f ms -> %s" % (c["member"], what, ms, res))
    for c in sorted(calls.values(), key=lambda c: c["t"]):
        print("%s %s: no reply seen (the daemon died?)" % (c["member"], c["target"]))


if __name__ == "__main__":
    main(sys.argv[1])
