#!/usr/bin/env bash
# Profiles Coffer's workloads one at a time with `perf record -g` and writes, per workload, the
# functions with the largest inclusive and self share (demangled) to results/profiles/.
#
#   Benchmarks/profile.sh [SIZE] [SECONDS]        default 100000 credentials, 10 s per workload
#
# `coffer-bench prepare` bulk-loads a vault (that is the bulk-load profile), then
# `coffer-bench profile --workload W` runs W in a loop: open, reveal, resolve, commit,
# group_commit (8 threads calling mutate), and append (raw VaultStore.append from 8 threads).
set -euo pipefail
size="${1:-100000}"
seconds="${2:-10}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/results/profiles"
work="${BENCH_DIR:-/tmp/coffer-bench}/profile"
mkdir -p "$out" "$work"
swift build -c release --package-path "$here" >&2
bench="$(swift build -c release --package-path "$here" --show-bin-path)/coffer-bench"
vault="$work/profile-$size.coffer"

report() {
    local name="$1"
    {
        echo "# $name, $size credentials, load average $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "## inclusive (children), user and kernel"
        perf report -i "$work/$name.data" --children --sort symbol --stdio --percent-limit 2 2>/dev/null \
            | grep -E '^ +[0-9]' | swift demangle --simplified | cut -c1-220 | sed 's/ *$//' | head -70 || true
        echo "## self"
        perf report -i "$work/$name.data" --no-children --sort symbol --stdio --percent-limit 0.7 2>/dev/null \
            | grep -E '^ +[0-9]' | swift demangle --simplified | cut -c1-220 | sed 's/ *$//' | head -40 || true
    } > "$out/$name.txt"
    echo "wrote $out/$name.txt" >&2
}

perf record -F 499 -g -o "$work/bulk_load.data" "$bench" prepare --size "$size" --vault "$vault"
report bulk_load
# Sampling starts when the workload does (after the vault is open): coffer-bench writes
# `enable` to perf's control FIFO.
control="$work/perf-control"
rm -f "$control"
mkfifo "$control"
for workload in open reveal resolve commit group_commit append; do
    BENCH_PERF_CONTROL="$control" perf record -F 499 -g --delay=-1 --control="fifo:$control" -o "$work/$workload.data" \
        "$bench" profile --workload "$workload" --size "$size" --vault "$vault" --seconds "$seconds"
    report "$workload"
done
rm -f "$control"
rm -f "$vault" "$vault.key"
