#!/usr/bin/python3
"""A minimal QMP client (standard library only).

    qmp.py SOCKET COMMAND [COMMAND...]

Connects to QEMU's QMP unix socket (retrying for up to --wait seconds while
it does not exist yet), reads the greeting, sends qmp_capabilities, then
each COMMAND (a QMP command name, or a JSON object {"execute": ...}) and
prints one line per command: the "return" value as JSON.  Events that
arrive meanwhile are skipped.  Exit status 1 if a command returns an error
(printed as "error: {...}") or the connection fails; for "quit", the
connection closing instead of a reply counts as success.
"""
import json
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    wait = 30.0
    if args and args[0].startswith("--wait="):
        wait = float(args.pop(0).split("=", 1)[1])
    if len(args) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, commands = args[0], args[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    end = time.monotonic() + wait
    while True:
        try:
            s.connect(path)
            break
        except OSError as e:
            if time.monotonic() > end:
                print("error: connect %s: %s" % (path, e))
                return 1
            time.sleep(0.2)
    f = s.makefile("rwb", buffering=0)

    def recv():
        while True:
            line = f.readline()
            if not line:
                return None
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def send(cmd):
        f.write(json.dumps(cmd).encode() + b"\n")

    greeting = recv()
    if not greeting or "QMP" not in greeting:
        print("error: no QMP greeting: %r" % greeting)
        return 1
    send({"execute": "qmp_capabilities"})
    r = recv()
    if not r or "return" not in r:
        print("error: qmp_capabilities: %r" % r)
        return 1
    rc = 0
    for c in commands:
        cmd = json.loads(c) if c.startswith("{") else {"execute": c}
        send(cmd)
        r = recv()
        if r is None:
            if cmd.get("execute") == "quit":
                print("{}")
                continue
            print("error: connection closed")
            return 1
        if "return" in r:
            print(json.dumps(r["return"]))
        else:
            print("error: " + json.dumps(r.get("error", r)))
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
