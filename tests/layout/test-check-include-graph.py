#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The include-graph check can fail: each case builds a small tree that
breaks one rule and expects check-include-graph.py to exit 1 naming it;
the clean tree must pass.  TAP output."""

import os
import subprocess
import sys
import tempfile

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check-include-graph.py")

CLEAN = {
    "src/macro.h": "#pragma once\n",
    "src/topology.h": '#include "macro.h"\n',
    "src/topology.c": '#include "config.h"\n#include "topology.h"\n#include <errno.h>\n',
    "src/shared/log.h": '#include "macro.h"\n',
    "src/shared/log.c": '#include "log.h"\n#include <systemd/sd-journal.h>\n',
    "src/daemon/manager.h": '#include "topology.h"\n#include "log.h"\n',
    "src/daemon/manager.c": '#include "manager.h"\n#include <systemd/sd-bus.h>\n',
    "src/ctl/ctl.c": '#include "macro.h"\n',
}

CASES = [
    ("library includes the daemon", {"src/topology.c": '#include "manager.h"\n'}, "src/ includes src/daemon/"),
    ("library includes shared", {"src/topology.c": '#include "log.h"\n'}, "src/ includes src/shared/"),
    ("library uses sd-bus", {"src/topology.c": "#include <systemd/sd-bus.h>\n"}, "the library includes <systemd/sd-bus.h>"),
    ("shared includes the daemon", {"src/shared/log.c": '#include "manager.h"\n'}, "src/shared/ includes src/daemon/"),
    ("ctl includes the daemon", {"src/ctl/ctl.c": '#include "manager.h"\n'}, "src/ctl/ includes src/daemon/"),
    ("two folders include each other",
     {"src/shared/log.c": '#include "manager.h"\n'}, "src/daemon/ and src/shared/ include each other"),
    ("a file over 800 lines", {"src/daemon/big.c": "int x;\n" * 801}, "src/daemon/big.c: 801 lines"),
    ("a header of no folder", {"src/daemon/manager.c": '#include "nowhere.h"\n'}, '"nowhere.h" is in no folder'),
    ("an include by path", {"src/daemon/manager.c": '#include "../topology.h"\n'}, "include by name"),
    ("a folder of its own", {"src/dbus/x.c": "int x;\n"}, "src/dbus/: a folder the layout does not know"),
]


def make_tree(files):
    d = tempfile.mkdtemp(prefix="include-graph-")
    for rel, text in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    return d


def run(tree):
    p = subprocess.run([sys.executable, CHECK, tree], capture_output=True, text=True)
    return p.returncode, p.stdout


def main():
    tests = [("clean tree passes", {}, None)] + CASES
    print(f"1..{len(tests)}")
    failed = 0
    for i, (what, change, expect) in enumerate(tests, 1):
        files = dict(CLEAN)
        files.update(change)
        rc, out = run(make_tree(files))
        ok = rc == 0 if expect is None else (rc == 1 and expect in out)
        if not ok:
            failed += 1
            for line in out.splitlines():
                print(f"# {line}")
        print(f"{'ok' if ok else 'not ok'} {i} - {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
