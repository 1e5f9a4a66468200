#!/bin/bash
# Regenerate the fixtures in tests/data from a real kernel (guest scenario
# "record"), check them on the host, and install them:
#
#   tests/vm/record-fixtures.sh            record + check + install
#   tests/vm/record-fixtures.sh --check    only check the installed fixtures
#
# tests/data/config/*.bin          raw config space per kind of function
# tests/data/config/README         guest address, lspci summary of each
# tests/data/config/lspci-vvv.txt  lspci -vvv -nn of the whole guest
# tests/data/config/lspci-vvv-xxxx.txt.xz   lspci -vvv -xxxx (lspci -F can re-read it)
# tests/data/resource/*.txt        sysfs `resource` of the same functions
# tests/data/testbeds/q35-vm.umockdev     umockdev-record of all PCI functions,
#                                          plus iommu groups / driver dirs (see
#                                          guest/umockdev_extras.py)
# tests/data/testbeds/q35-vm.truth.json   the same functions read from sysfs
set -uo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
DATA=$(cd "$VM/../data" && pwd)
WORK=$VM/work
OUTD=$WORK/out/record
PY=/usr/bin/python3
FAILED=0
PASSED=0
ok()   { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

check_testbed() {
    local tb=$DATA/testbeds/q35-vm.umockdev truth=$DATA/testbeds/q35-vm.truth.json n
    command -v umockdev-run > /dev/null || { fail "umockdev-run not installed"; return; }
    n=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["devices"]))' "$truth")
    [ "$(umockdev-run -d "$tb" -- ls /sys/bus/pci/devices/ | wc -l)" = "$n" ] \
        && ok "testbed: /sys/bus/pci/devices lists the $n functions of the truth file" \
        || fail "testbed: /sys/bus/pci/devices"
    [ "$(umockdev-run -d "$tb" -- lspci -nn | wc -l)" = "$n" ] \
        && ok "testbed: lspci -nn shows $n functions" || fail "testbed: lspci -nn"
    # read the testbed with the same code that wrote the truth file in the guest
    if umockdev-run -d "$tb" -- $PY "$VM/guest/pci_sysfs.py" > "$WORK/testbed-view.json" \
        && $PY - "$WORK/testbed-view.json" "$truth" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
bad = [f"{y['address']} {k}: testbed {x.get(k)!r} != guest {y[k]!r}"
       for x, y in zip(a["devices"], b["devices"]) for k in y if x.get(k) != y[k]]
if len(a["devices"]) != len(b["devices"]):
    bad.append("number of functions differs")
if a["groups"] != b["groups"]:
    bad.append("iommu groups differ")
if bad:
    print("\n".join(bad[:20]))
sys.exit(1 if bad else 0)
EOF
    then ok "testbed: sysfs view (links, iommu groups, drivers, config) equals the truth file"
    else fail "testbed: sysfs view differs from the truth file"
    fi
}

if [ "${1:-}" != --check ]; then
    "$VM/setup.sh" > /dev/null || exit 1
    rm -rf "$OUTD"
    TIMEOUT=${TIMEOUT:-300} "$VM/run-vm.sh" record
    res=$(tr -d "\r" < "$WORK/logs/record.log" | grep -aE "^[0-9]+ passed, [0-9]+ failed" | tail -1)
    grep -aE '^(ok|FAIL) - ' "$WORK/logs/record.log"
    case $res in
        *" 0 failed") ok "guest scenario record: $res" ;;
        *) fail "guest scenario record: ${res:-no result (see $WORK/logs/record.log)}"
           echo "$PASSED passed, $FAILED failed"; exit 1 ;;
    esac
    mkdir -p "$DATA/config" "$DATA/resource" "$DATA/testbeds"
    # overwrite only what this recording produces: other fixtures live here too
    cp "$OUTD"/config/*.bin "$OUTD"/config/README "$OUTD"/config/lspci-vvv.txt "$DATA/config/"
    xz -9 -c "$OUTD/config/lspci-vvv-xxxx.txt" > "$DATA/config/lspci-vvv-xxxx.txt.xz"
    cp "$OUTD"/resource/*.txt "$DATA/resource/"
    cp "$OUTD"/testbeds/q35-vm.umockdev "$OUTD"/testbeds/q35-vm.truth.json "$DATA/testbeds/"
    ok "fixtures installed in $DATA ($(du -sh "$DATA" | cut -f1))"
fi
check_testbed
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
