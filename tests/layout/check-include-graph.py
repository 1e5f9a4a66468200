#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The layout's rules (README.md, "Layout"), checked on the sources:

  * each folder under src/ includes only the folders it may use:
        src/ (the library)  -> nothing above it
        src/shared/         -> src/
        src/daemon/         -> src/shared/, src/
        src/ctl/            -> src/
        src/kubelet/        -> nothing of ours (it talks D-Bus only)
  * no two folders include each other's headers;
  * the library includes no sd-bus/sd-event (<systemd/...>): it has no bus
    and no event loop;
  * no source file under src/ is longer than 800 lines.

A quoted #include is resolved like the compiler does with the folders'
include paths: the including file's own folder first, then the others;
a header found in none of them (config.h, made by meson, aside) fails.

Usage: check-include-graph.py [SOURCE_ROOT]   (default: the checkout)
Exit 0 when every rule holds, 1 with one line per violation otherwise."""

import os
import re
import sys

MAX_LINES = 800
FOLDERS = {           # folder (relative to src/) -> what it may include
    "": set(),
    "shared": {""},
    "daemon": {"shared", ""},
    "ctl": {""},
    "kubelet": set(),
}
GENERATED = {"config.h"}
SOURCE_EXT = (".c", ".h", ".cc", ".hh", ".cpp", ".hpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')


def name(folder):
    return "src/" + folder + ("/" if folder else "")


def sources(src):
    for folder in FOLDERS:
        d = os.path.join(src, folder)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(SOURCE_EXT) and os.path.isfile(os.path.join(d, f)):
                yield folder, f


def check(root):
    src = os.path.join(root, "src")
    errors = []
    headers = {}          # header name -> folders that have it
    files = list(sources(src))
    unknown = sorted(d for d in os.listdir(src)
                     if os.path.isdir(os.path.join(src, d)) and d not in FOLDERS)
    for d in unknown:
        errors.append(f"{name(d)}: a folder the layout does not know (add it to FOLDERS and README)")
    for folder, f in files:
        headers.setdefault(f, []).append(folder)

    edges = set()
    for folder, f in files:
        path = os.path.join(src, folder, f)
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
        rel = name(folder) + f
        if len(lines) > MAX_LINES:
            errors.append(f"{rel}: {len(lines)} lines (more than {MAX_LINES})")
        for no, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, inc = m.groups()
            if kind == "<":
                if folder == "" and inc.startswith("systemd/"):
                    errors.append(f"{rel}:{no}: the library includes <{inc}> (no bus, no event loop in src/)")
                continue
            if inc in GENERATED:
                continue
            base = os.path.basename(inc)
            owners = headers.get(base, [])
            if "/" in inc:
                errors.append(f"{rel}:{no}: \"{inc}\": include by name, through the folder's include path")
                continue
            if not owners:
                errors.append(f"{rel}:{no}: \"{inc}\" is in no folder of src/")
                continue
            target = folder if folder in owners else owners[0]
            if len(owners) > 1 and folder not in owners:
                errors.append(f"{rel}:{no}: \"{inc}\" is ambiguous ({', '.join(name(o) for o in owners)})")
            if target == folder:
                continue
            edges.add((folder, target))
            if target not in FOLDERS[folder]:
                errors.append(f"{rel}:{no}: {name(folder)} includes {name(target)}{inc}: "
                              f"{name(folder)} may use only {', '.join(name(x) for x in sorted(FOLDERS[folder])) or 'itself'}")
    for a, b in sorted(edges):
        if a < b and (b, a) in edges:
            errors.append(f"{name(a)} and {name(b)} include each other's headers")
    return errors


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} layout violation(s)", file=sys.stderr)
        return 1
    print("include graph: one way; no file over %d lines" % MAX_LINES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
