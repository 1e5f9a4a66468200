#!/bin/bash
# Host step of scenario "hoststacks": the six NVMe disks' backing files
# (sparse, in the scenario's output directory; the guest formats them).
set -eu
OUTD=$3
for i in 1 2 3 4 5 6; do
    rm -f "$OUTD/hs$i.img"
    truncate -s 320M "$OUTD/hs$i.img"
done
echo "made $OUTD/hs{1..6}.img"
