#!/bin/bash
# Regenerates the seed corpora in fuzz/corpus/ from the recorded data in
# tests/data/ (config spaces and resource files read from a real kernel,
# the store fixtures) and from the cases of tests/unit/test-pci-address.c,
# plus a few store documents written here after src/store.h.
#   fuzz/make-corpus.sh
# Replaces fuzz/corpus/ entirely; fuzz/regressions/ is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
rm -rf "$out"
mkdir -p "$out"/{address,config,resource,store}

# --- address: valid and invalid forms, as in tests/unit/test-pci-address.c
i=0
for a in 0000:00:00.0 0000:03:00.0 0000:ff:1f.7 ABCD:EF:1A.3 ffff:00:02.0 \
         10000:00:00.0 ffffffff:01:02.3 00010000:00:1f.7; do
  printf '%s' "$a" > "$out/address/valid-$((i++))"
done
i=0
for a in ":" "0000:00:02." "00:02.0" "000:00:02.0" "zzzz:00:02.0" "0000:0g:02.0" \
         "0000:00:20.0" "0000:00:02.8" "0000:00:02.00" "0000:000:02.0" "0000:00:2.0" \
         "0000:00:02.0 " "0000-00-02.0" "0000:00:02:0" "+000:00:02.0" \
         "100000000:00:02.0" "0000:00:02.0/../../etc"; do
  printf '%s' "$a" > "$out/address/invalid-$((i++))"
done
printf '0000:00:02.0\0../../etc' > "$out/address/invalid-nul"
printf '0000:00:02.0\n' > "$out/address/invalid-newline"

# --- config: every recorded config space, and what unprivileged (64 bytes)
# or 256-byte readers see of some
for f in tests/data/config/*.bin; do
  cp "$f" "$out/config/$(basename "$f" .bin)"
done
for k in nvme-pf e1000e-behind-switch pcie-root-port; do
  head -c 64 "tests/data/config/$k.bin" > "$out/config/$k-64"
  head -c 256 "tests/data/config/$k.bin" > "$out/config/$k-256"
done

# --- resource: every recorded resource file, and one without its last '\n'
for f in tests/data/resource/*.txt; do
  cp "$f" "$out/resource/$(basename "$f" .txt)"
done
head -c -1 tests/data/resource/nvme-pf.txt > "$out/resource/nvme-pf-no-final-newline"

# --- store: the fixtures of tests/unit/test-store.c, and a few more
for f in tests/data/store/*.json; do
  cp "$f" "$out/store/$(basename "$f" .json)"
done
printf '{"format":1,"next_id":1,"reservations":[]}' > "$out/store/empty"
printf '{ "format": 1, "next_id": 1, "reservations": [ ] }\n' > "$out/store/empty-pretty"
printf '{"format":5}' > "$out/store/future-minimal"
cat > "$out/store/one-reservation" <<'JSON'
{
  "format": 1,
  "next_id": 2,
  "reservations": [
    {
      "id": "r1",
      "owner": "vm1",
      "owner_uid": 0,
      "persistent": true,
      "driver": "vfio-pci",
      "state": "reserved",
      "created_usec": 1,
      "last_error": null,
      "functions": [
        {
          "address": "0000:03:00.0",
          "assigned": true,
          "host_driver": null,
          "vendor_id": 32902,
          "device_id": 4307
        }
      ],
      "journal": null
    }
  ]
}
JSON
cat > "$out/store/journal-prepare" <<'JSON'
{"format":1,"next_id":18446744073709551614,"reservations":[{"id":"r18446744073709551613","owner":"\u00e9t\u00e9 \ud83d\ude80","owner_uid":4294967294,"persistent":false,"driver":"vfio_pci","state":"in-use","created_usec":18446744073709551614,"last_error":"x","functions":[{"address":"FFFFFFFF:FF:1F.7","assigned":false,"host_driver":"nvme","vendor_id":65535,"device_id":65535,"dsn":"ABCDEF0123456789"},{"address":"0000:00:00.0","assigned":true,"host_driver":"e1000e","vendor_id":0,"device_id":0}],"journal":{"operation":"unprepare","step":4294967295,"functions":[]}}]}
JSON
cat > "$out/store/two-reservations" <<'JSON'
{"format":1,"next_id":10,"reservations":[{"id":"r9","owner":"a","owner_uid":1,"persistent":true,"driver":"vfio-pci","state":"prepared","created_usec":5,"last_error":null,"functions":[{"address":"0000:0b:00.1","assigned":true,"host_driver":"e1000e","vendor_id":32902,"device_id":4307},{"address":"0000:0b:00.0","assigned":false,"host_driver":"e1000e","vendor_id":32902,"device_id":4307}],"journal":{"operation":"prepare","step":1,"functions":[{"address":"0000:0b:00.1","original_driver":"e1000e"},{"address":"0000:0b:00.0","original_driver":null}]}},{"id":"guest_2","owner":"b","owner_uid":2,"persistent":false,"driver":"vfio-pci","state":"degraded","created_usec":6,"last_error":"reset failed","functions":[{"address":"0001:00:02.0","assigned":true,"host_driver":null,"vendor_id":6966,"device_id":16}]}]}
JSON
# format 3: adopted bindings (vfio-pci with its override, pci-stub without)
cat > "$out/store/adopted" <<'JSON'
{"format":3,"next_id":2,"reservations":[{"id":"r1","owner":"vm1","owner_uid":0,"persistent":true,"driver":"vfio-pci","state":"prepared","created_usec":1,"last_error":null,"functions":[{"address":"0000:0b:00.0","assigned":true,"host_driver":"vfio-pci","vendor_id":32902,"device_id":4307,"adopted":true,"host_override":"vfio-pci"},{"address":"0000:0b:00.1","assigned":false,"host_driver":"pci-stub","vendor_id":32902,"device_id":4307,"adopted":true}]}]}
JSON
# refused: adoption of a host driver
sed 's/"host_driver":"pci-stub"/"host_driver":"e1000e"/' "$out/store/adopted" > "$out/store/bad-adopted-host-driver"
# format 4: subsystem ids recorded at Reserve (and adoption beside them)
sed -e 's/"format":3/"format":4/' -e 's/"device_id":4307,"adopted":true,"host_override"/"device_id":4307,"subsystem_vendor_id":32902,"subsystem_device_id":0,"adopted":true,"host_override"/' "$out/store/adopted" > "$out/store/subsystem-ids"
# refused: only one of the two subsystem ids
sed 's/"subsystem_vendor_id":32902,//' "$out/store/subsystem-ids" > "$out/store/bad-one-subsystem-id"
# refused: the same function in two reservations
sed 's/"0001:00:02.0"/"0000:0b:00.0"/' "$out/store/two-reservations" > "$out/store/bad-shared-function"
# refused: an unknown key
sed 's/"format": 1,/"format": 1, "extra": true,/' "$out/store/one-reservation" > "$out/store/bad-unknown-key"

ls "$out"/* | awk '/:$/ { d = $0; next } NF { n[d]++ } END { for (k in n) print k, n[k] }'
