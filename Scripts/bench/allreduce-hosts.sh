#!/usr/bin/env bash
# The allreduce across hosts (TCP between network-namespace hosts, Cluster/fake-hosts.sh)
# beside the same ranks on one host (shared memory): `uso bench allreduce` in two jobs run back
# to back (one job cannot be on one host and on two at once), compared size by size.
#
#   Scripts/bench/allreduce-hosts.sh [RANKS_PER_HOST] [MAX_SIZE]     (defaults 1, 64MiB)
#
# Two hosts; RANKS_PER_HOST ranks on each (2 x RANKS_PER_HOST ranks in all, the same count on
# one host). Prints one table: per size, time and busbw on one host and across hosts, and their
# ratio. Needs root and iproute2 (network namespaces) and the release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
per="${1:-1}"
max="${2:-64MiB}"
n=$((2 * per))
uso=.build/release/uso
[ -x "$uso" ] || { echo "allreduce-hosts: build first (swift build -c release)" >&2; exit 69; }
[ "$(id -u)" = 0 ] || { echo "allreduce-hosts: needs root (network namespaces)" >&2; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work="$(mktemp -d)"
trap 'Cluster/fake-hosts.sh down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mpirun -np "$n" --oversubscribe --timeout 600 -x OPENBLAS_NUM_THREADS "$uso" bench allreduce --max-size "$max" --json "$work/shm.json" > "$work/shm.txt"
Cluster/fake-hosts.sh up 2 >/dev/null
# shellcheck disable=SC2046
mpirun $(Cluster/fake-hosts.sh mpirun-args 2 "$per") -np "$n" --oversubscribe --timeout 600 -x OPENBLAS_NUM_THREADS \
    "$uso" bench allreduce --max-size "$max" --json "$work/tcp.json" > "$work/tcp.txt"
python3 - "$work/shm.json" "$work/tcp.json" "$n" <<'PY'
import json, sys
shm = {r["bytes"]: r for r in json.load(open(sys.argv[1]))["rows"]}
tcp = {r["bytes"]: r for r in json.load(open(sys.argv[2]))["rows"]}
def size(b):
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= k: return f"{b / k:g} {unit}"
    return f"{b} B"
print(f"allreduce at {sys.argv[3]} ranks: one host (shared memory) against two hosts (TCP), busbw in GB/s")
print(f"{'size':>10}  {'one host us':>12}  {'busbw':>7}  {'two hosts us':>13}  {'busbw':>7}  {'tcp / shm time':>14}")
for b in sorted(set(shm) & set(tcp)):
    s, t = shm[b], tcp[b]
    print(f"{size(b):>10}  {s['seconds'] * 1e6:12.1f}  {s['busbwGBs']:7.2f}  {t['seconds'] * 1e6:13.1f}  {t['busbwGBs']:7.2f}  {t['seconds'] / s['seconds']:14.2f}")
PY
