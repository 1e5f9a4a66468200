#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every benchmark in one run, each figure beside the baseline measured in the
# same run and the ratio:
#
#   bench/run-all.sh [BUILD_DIR]          (BUILD_DIR defaults to build)
#
#   1. start-up (bench/run-bench.sh) for N = 256, 1024, 4096: the floor
#      (sysfs-floor), the peer (lspci -vvv), pci-assignd start-to-READY,
#      GetManagedObjects and RSS; one table of how each grows with N
#   2. method calls (bench/run-calls.sh) on the largest N: Get, GetDevice,
#      CheckAssignable, Reserve against Peer.Ping
#   3. hotplug (bench/run-hotplug.sh, when it is there): a 256-VF burst
#      against a plain libudev monitor; RSS over 10000 add/remove cycles
#   4. the VM (tests/vm/run-test.sh bench-rebind): Prepare/Unprepare against
#      the bare sysfs writes, GetDevice during a bus reset, on a real kernel
#      in QEMU (about 75 s under TCG; BENCH_VM=0 skips it)
#
# Each script's own output is printed as it runs and kept in
# BUILD_DIR/bench/log-*.txt; the summary at the end repeats the figures.
# Results: BUILD_DIR/bench/all-results.json (the per-benchmark JSON files
# merged), BUILD_DIR/bench/startup-vs-n.png (cost against N, gnuplot) and
# its data, BUILD_DIR/bench/startup-vs-n.dat.
#
# Environment: BENCH_SIZES (default "256 1024 4096"), CALLS_N (default: the
# largest size), BENCH_VM=0, BENCH_HOTPLUG=0, HOTPLUG_VFS/HOTPLUG_ROUNDS/
# HOTPLUG_CYCLES (256/5/10000), CALLS_ROUNDS (200); FLOOR_RUNS, LSPCI_RUNS,
# DAEMON_RUNS, GMO_CALLS go to run-bench.sh, ACCEL and TIMEOUT to the VM.
# A missed target does not fail the run; a benchmark that cannot run does
# (exit 1 at the end, after the others ran).
set -uo pipefail
export LC_ALL=C

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_ARG=${1:-build}
SIZES=${BENCH_SIZES:-256 1024 4096}
PY=/usr/bin/python3
die() { echo "run-all: $*" >&2; exit 2; }
for n in $SIZES; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZES: '$n' is not a positive number"; done
LARGEST=$(tr ' ' '\n' <<<"$SIZES" | grep . | sort -n | tail -1)
CALLS_N=${CALLS_N:-$LARGEST}

"$SRC/scripts/install-deps.sh" bench || die "missing packages (scripts/install-deps.sh bench)"
if [ ! -f "$BUILD_ARG/build.ninja" ]; then
        meson setup "$BUILD_ARG" "$SRC" >/dev/null || die "meson setup $BUILD_ARG failed"
fi
BUILD=$(cd "$BUILD_ARG" && pwd)
OUT=$BUILD/bench
mkdir -p "$OUT"

# Build what the benchmarks run, and only that: another test's build error
# elsewhere in the tree must not stop the benchmarks.
known=$(ninja -C "$BUILD" -t targets all 2>/dev/null | cut -d: -f1)
targets=()
for t in src/daemon/pci-assignd bench/sysfs-floor bench/udev-floor bench/daemon-ready \
         bench/bench-calls bench/bench-hotplug bench/bare-rebind; do
        grep -Fx "$t" <<<"$known" >/dev/null && targets+=("$t")
done
echo "=== building: ${targets[*]}"
ninja -C "$BUILD" "${targets[@]}" >"$OUT/log-build.txt" 2>&1 ||
        { tail -20 "$OUT/log-build.txt" >&2; die "ninja failed (log: $OUT/log-build.txt)"; }

LOAD_START=$(cat /proc/loadavg)
T0=$EPOCHREALTIME
status=()           # "name rc seconds" per benchmark, for the summary
failed=0

# run NAME LOG CMD...: the command's output on the terminal and in LOG
run() {
        local name=$1 log=$2 t0=$EPOCHREALTIME rc
        shift 2
        echo
        echo "=== $name: $*  (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        "$@" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        status+=("$name $rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')")
        [ "$rc" = 0 ] || { echo "run-all: $name failed (exit $rc; log: $log)" >&2; failed=1; }
        return "$rc"
}

# 1. start-up against N.  run-bench.sh always writes BUILD/bench-results.json:
# keep each size's copy.
for n in $SIZES; do
        rm -f "$BUILD/bench-results.json" "$OUT/results-$n.json"
        run "start-up N=$n" "$OUT/log-startup-$n.txt" "$SRC/bench/run-bench.sh" "$BUILD" "$n" &&
                cp "$BUILD/bench-results.json" "$OUT/results-$n.json"
done

# 2. method calls
rm -f "$BUILD/bench-calls.json"
run "calls N=$CALLS_N" "$OUT/log-calls.txt" "$SRC/bench/run-calls.sh" "$BUILD" "$CALLS_N" "${CALLS_ROUNDS:-200}"

# 3. hotplug.  HOOK: bench/run-hotplug.sh (bench/bench-hotplug.c) runs when
# it is in the tree; it writes BUILD/bench-hotplug.json.
rm -f "$BUILD/bench-hotplug.json"
HOTPLUG=skipped
if [ "${BENCH_HOTPLUG:-1}" = 0 ]; then
        echo; echo "=== hotplug: skipped (BENCH_HOTPLUG=0)"
elif [ ! -f "$SRC/bench/run-hotplug.sh" ]; then
        echo; echo "=== hotplug: skipped (no bench/run-hotplug.sh in this tree)"
elif ! grep -Fx bench/bench-hotplug <<<"$known" >/dev/null; then
        echo; echo "=== hotplug: skipped (bench/bench-hotplug is not built: needs umockdev-1.0 and glib-2.0)"
else
        HOTPLUG=ran
        run "hotplug" "$OUT/log-hotplug.txt" bash "$SRC/bench/run-hotplug.sh" "$BUILD" \
                "${HOTPLUG_VFS:-256}" "${HOTPLUG_ROUNDS:-5}" "${HOTPLUG_CYCLES:-10000}"
fi

# 4. the VM guest.  Its "bench-json: {...}" line is the result.
VM=skipped
rm -f "$OUT/vm-bench-rebind.json"
if [ "${BENCH_VM:-1}" = 0 ]; then
        echo; echo "=== VM bench-rebind: skipped (BENCH_VM=0)"
else
        VM=ran
        echo
        echo "=== VM: tests/vm/setup.sh (kernel and initramfs; once)"
        if "$SRC/tests/vm/setup.sh" >"$OUT/log-vm-setup.txt" 2>&1; then
                tail -1 "$OUT/log-vm-setup.txt"
                if run "VM bench-rebind" "$OUT/log-vm.txt" "$SRC/tests/vm/run-test.sh" bench-rebind "$BUILD"; then
                        sed -n 's/^ *bench-json: //p' "$OUT/log-vm.txt" | tail -1 >"$OUT/vm-bench-rebind.json"
                        [ -s "$OUT/vm-bench-rebind.json" ] ||
                                { echo "run-all: no bench-json line from the VM" >&2; failed=1; }
                fi
        else
                tail -5 "$OUT/log-vm-setup.txt" >&2
                echo "run-all: tests/vm/setup.sh failed (log: $OUT/log-vm-setup.txt)" >&2
                status+=("VM-setup 1 0"); failed=1
        fi
fi

# Summary, merged JSON, plot data
echo
SIZES=$SIZES BUILD=$BUILD OUT=$OUT CALLS_N=$CALLS_N HOTPLUG=$HOTPLUG VM=$VM \
LOAD_START=$LOAD_START T0=$T0 STATUS="$(printf '%s\n' "${status[@]}")" \
"$PY" - <<'EOF' || failed=1
import json, os, platform, time

env = os.environ
out, build = env['OUT'], env['BUILD']
sizes = [int(n) for n in env['SIZES'].split()]


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def med(d, *keys):
    """d[k0][k1]...['median'] or None"""
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d.get('median') if isinstance(d, dict) else d


def f(x, fmt='%.0f', none='-'):
    return none if x is None else fmt % x


def ratio(a, b):
    return a / b if a is not None and b else None


load_end = os.getloadavg()
try:
    with open('/proc/cpuinfo') as fh:
        cpu = next((l.split(':', 1)[1].strip() for l in fh if l.startswith('model name')), '')
except OSError:
    cpu = ''
status = {}
for line in env['STATUS'].splitlines():
    if line.strip():
        name, rc, s = line.rsplit(' ', 2)
        status[name] = {'exit': int(rc), 'seconds': int(s)}
res = {
    'machine': {'cpu': cpu, 'cpus': os.cpu_count(), 'kernel': platform.release(),
                'loadavg_start': [float(x) for x in env['LOAD_START'].split()[:3]],
                'loadavg_end': list(load_end)},
    'wall_s': round(time.time() - float(env['T0']), 1),
    'runs': status,
    'startup': {}, 'startup_vs_n': [], 'calls': None, 'hotplug': None, 'vm_rebind': None,
}

print('=' * 100)
print('pci-assignd benchmarks, all in this run: %s, %d CPUs; load average %s at start, %.2f at end (%.0f s)' % (
    cpu or 'unknown CPU', os.cpu_count(), env['LOAD_START'].split()[0], load_end[0], res['wall_s']))
print('Every ratio is against a baseline measured in this same run, on the same machine and testbed.')
if load_end[0] > 0.5 * os.cpu_count() or float(env['LOAD_START'].split()[0]) > 0.5 * os.cpu_count():
    print('NOTE: the machine is loaded (other work running): absolute wall-clock times swing; read the ratios,\n'
          '      and for start-up the same-round and CPU-time ratios, which hold up much better under load.')

# ------------------------------------------------------------ start-up vs N
print()
print('Start-up against N (bench/run-bench.sh; wall-clock medians; target READY <= 1.5x floor, < 1x lspci;')
print('GetManagedObjects < 50 ms; RSS < 8 MiB)')
hdr = '  %6s %9s %9s %10s %8s %8s %8s %8s' % ('N', 'floor ms', 'lspci ms', 'READY ms', 'x floor', 'x lspci',
                                               'GMO ms', 'RSS MiB')
print(hdr)
rows = []
for n in sizes:
    r = load(os.path.join(out, 'results-%d.json' % n))
    res['startup'][str(n)] = r
    if not r:
        print('  %6d  (failed: see %s/log-startup-%d.txt)' % (n, out, n))
        continue
    d = r.get('daemon') or {}
    t = r.get('targets') or {}
    row = {
        'n': n,
        'floor_ms': med(r, 'floor', 'wall_ms'), 'floor_min': (r['floor']['wall_ms'] or {}).get('min'),
        'floor_max': (r['floor']['wall_ms'] or {}).get('max'),
        'lspci_ms': med(r, 'lspci_vvv', 'wall_ms'), 'lspci_min': (r['lspci_vvv']['wall_ms'] or {}).get('min'),
        'lspci_max': (r['lspci_vvv']['wall_ms'] or {}).get('max'),
        'ready_ms': med(d, 'ready_ms'), 'ready_min': (d.get('ready_ms') or {}).get('min'),
        'ready_max': (d.get('ready_ms') or {}).get('max'),
        'udev_floor_ms': med(r, 'udev_floor', 'wall_ms'),
        'floor_cpu_ms': med(r, 'floor', 'cpu_ms'), 'lspci_cpu_ms': med(r, 'lspci_vvv', 'cpu_ms'),
        'ready_cpu_ms': med(d, 'cpu_ms_ready'),
        'gmo_ms': med(d, 'get_managed_objects_ms'),
        'gmo_daemon_cpu_ms': med(d, 'get_managed_objects_daemon_cpu_ms'),
        'rss_mib_ready': med(d, 'rss_mib_ready'), 'rss_mib_after_calls': med(d, 'rss_mib_after_calls'),
        'hwm_mib_after_calls': med(d, 'hwm_mib_after_calls'),
        'loadavg': [r['machine']['loadavg_start'][0], r['machine']['loadavg_end'][0]],
    }
    row['ratio_floor'] = ratio(row['ready_ms'], row['floor_ms'])
    row['ratio_lspci'] = ratio(row['ready_ms'], row['lspci_ms'])
    row['paired_ratio_floor'] = med(t, 'ready_vs_floor', 'paired_ratio')
    row['paired_ratio_lspci'] = med(t, 'ready_vs_lspci', 'paired_ratio')
    row['cpu_ratio_floor'] = ratio(row['ready_cpu_ms'], row['floor_cpu_ms'])
    row['cpu_ratio_lspci'] = ratio(row['ready_cpu_ms'], row['lspci_cpu_ms'])
    rss = row['rss_mib_after_calls'] if row['rss_mib_after_calls'] is not None else row['rss_mib_ready']
    row['rss_mib'] = rss
    rows.append(row)
    print('  %6d %9s %9s %10s %7sx %7sx %8s %8s' % (
        n, f(row['floor_ms']), f(row['lspci_ms']), f(row['ready_ms']), f(row['ratio_floor'], '%.2f'),
        f(row['ratio_lspci'], '%.2f'), f(row['gmo_ms'], '%.1f'), f(rss, '%.1f')))
res['startup_vs_n'] = rows
if rows:
    print('  same run, other views of the ratios (same-round: median of per-round ratios; CPU: CPU-time medians,')
    print('  all daemon threads up to READY; load: load average at the start and end of that size):')
    print('  %6s %13s %13s %11s %11s %12s %9s %11s' % ('N', 'round x floor', 'round x lspci', 'CPU x floor',
                                                      'CPU x lspci', 'READY CPU ms', 'HWM MiB', 'load'))
    for row in rows:
        print('  %6d %12sx %12sx %10sx %10sx %12s %9s %11s' % (
            row['n'], f(row['paired_ratio_floor'], '%.2f'), f(row['paired_ratio_lspci'], '%.2f'),
            f(row['cpu_ratio_floor'], '%.2f'), f(row['cpu_ratio_lspci'], '%.2f'), f(row['ready_cpu_ms']),
            f(row['hwm_mib_after_calls'], '%.1f'), '%.1f -> %.1f' % tuple(row['loadavg'])))
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        k = b['n'] / a['n']
        grow = lambda key: f(ratio(b[key], a[key]), '%.1fx')
        print('  growth %d -> %d functions (%.0fx): floor %s, lspci %s, READY %s, GMO %s, RSS %s' % (
            a['n'], b['n'], k, grow('floor_ms'), grow('lspci_ms'), grow('ready_ms'), grow('gmo_ms'),
            grow('rss_mib')))
    with open(os.path.join(out, 'startup-vs-n.dat'), 'w') as fh:
        fh.write('# N floor_ms floor_min floor_max lspci_ms lspci_min lspci_max ready_ms ready_min ready_max '
                 'gmo_ms rss_mib floor_cpu_ms lspci_cpu_ms ready_cpu_ms\n')
        for row in rows:
            fh.write(' '.join(f(row[k], '%.3f', 'NaN') for k in (
                'n', 'floor_ms', 'floor_min', 'floor_max', 'lspci_ms', 'lspci_min', 'lspci_max', 'ready_ms',
                'ready_min', 'ready_max', 'gmo_ms', 'rss_mib', 'floor_cpu_ms', 'lspci_cpu_ms',
                'ready_cpu_ms')) + '\n')

# ------------------------------------------------------------ method calls
calls = load(os.path.join(build, 'bench-calls.json'))
res['calls'] = calls
print()
if calls:
    ping = calls.get('Peer.Ping', {})
    print('Method calls (bench/run-calls.sh, %s functions) against Peer.Ping to the daemon, same bus, same run:' %
          calls.get('functions'))
    print('  %-24s %10s %10s %9s' % ('call', 'median us', 'p99 us', 'x Ping'))
    for k, v in calls.items():
        if isinstance(v, dict):
            print('  %-24s %10d %10d %8.2fx' % (k, v['median_us'], v['p99_us'],
                                              v['median_us'] / ping['median_us'] if ping.get('median_us') else 0))
else:
    print('Method calls: failed (see %s/log-calls.txt)' % out)

# ------------------------------------------------------------ hotplug
print()
if env['HOTPLUG'] == 'skipped':
    print('Hotplug: skipped (see above)')
else:
    h = load(os.path.join(build, 'bench-hotplug.json'))
    res['hotplug'] = h
    if h:
        m, d, rs = h.get('monitor', {}), h.get('daemon', {}), h.get('rss', {})
        print('Hotplug (bench/run-hotplug.sh): a burst of %s VFs (%s uevents), median of %s rounds, against a plain' %
              (h.get('vfs'), h.get('events'), h.get('rounds')))
        print('libudev monitor receiving the same events in the same run:')
        print('  %-36s %12s %12s %8s' % ('', 'monitor', 'pci-assignd', 'ratio'))
        print('  %-36s %9.1f ms %9.1f ms %7.2fx' % ('first uevent sent -> last handled', m['burst_ms'],
                                                   d['burst_ms'], d['burst_ms'] / m['burst_ms']))
        # a fraction of a millisecond either way (below 0: handled before
        # the sender got the CPU back): the difference says more than a ratio
        print('  %-36s %9.2f ms %9.2f ms %+7.2f ms' % ('last uevent sent -> last handled', m['tail_ms'], d['tail_ms'],
                                                    d['tail_ms'] - m['tail_ms']))
        print('  daemon CPU per event %.3f ms' % d.get('cpu_ms_per_event', float('nan')))
        if rs:
            print('  RSS over %s add/remove cycles: %s KiB after READY, %s KiB warm, %s KiB after: %+.2f%% since '
                  'warm (target within %s%%)%s' % (rs['cycles'], rs['kib_ready'], rs['kib_warm'], rs['kib_after'],
                                                    rs['percent_since_warm'], rs.get('target_percent', 1),
                                                    '' if rs.get('met', True) else ', MISSED'))
    else:
        print('Hotplug: failed (see %s/log-hotplug.txt)' % out)

# ------------------------------------------------------------ VM
print()
if env['VM'] == 'skipped':
    print('VM bench-rebind: skipped')
else:
    v = load(os.path.join(out, 'vm-bench-rebind.json'))
    res['vm_rebind'] = v
    if v:
        m = v['medians_ms']
        print('VM bench-rebind (tests/vm/run-test.sh; real kernel in QEMU, %s functions, %s rounds), against the' %
              (len(v['functions']), v['rounds']))
        print('bare sysfs writes of the same operation (bench/bare-rebind) in the same guest:')
        print('  %-36s %12s %12s %8s' % ('', 'bare writes', 'pci-assignd', 'ratio'))
        for op in ('prepare', 'unprepare'):
            print('  %-36s %9.1f ms %9.1f ms %7.2fx  (target <= 1.1)' % (
                op.capitalize() + ' (call to reply)', m['bare_%s_ms' % op], m['daemon_%s_ms' % op],
                m['daemon_%s_ms' % op] / m['bare_%s_ms' % op]))
        print('  GetDevice p99 during a %.0f ms bus reset: %.2f ms (idle p99 %.2f ms, %.2fx; Peer.Ping median '
              '%.2f ms; target p99 < 5 ms)' % (v['reset_ms'], v['getdevice_during_reset_p99_ms'],
                                              v['getdevice_idle_p99_ms'],
                                              v['getdevice_during_reset_p99_ms'] / v['getdevice_idle_p99_ms'],
                                              v['ping_ms']))
        print('  (TCG emulation: the guest is slow; compare only the ratios)')
    else:
        print('VM bench-rebind: failed (see %s/log-vm.txt)' % out)

# ------------------------------------------------------------ files
print()
bad = [k for k, s in status.items() if s['exit'] != 0]
print('runs: ' + ', '.join('%s %ds%s' % (k, s['seconds'], '' if s['exit'] == 0 else ' FAILED (exit %d)' % s['exit'])
                           for k, s in status.items()))
with open(os.path.join(out, 'all-results.json'), 'w') as fh:
    json.dump(res, fh, indent=2)
    fh.write('\n')
print('results: %s/all-results.json' % out)
EOF

if [ -s "$OUT/startup-vs-n.dat" ]; then
        if gnuplot -e "datafile='$OUT/startup-vs-n.dat'; outfile='$OUT/startup-vs-n.png'" \
                "$SRC/bench/plot.gp" 2>"$OUT/log-plot.txt"; then
                echo "plot:    $OUT/startup-vs-n.png (data: $OUT/startup-vs-n.dat)"
        else
                cat "$OUT/log-plot.txt" >&2
                echo "run-all: gnuplot failed" >&2
                failed=1
        fi
fi
echo "logs:    $OUT/log-*.txt"
exit "$failed"
