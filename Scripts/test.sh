#!/usr/bin/env bash
# Set up (Scripts/bootstrap.sh) and run the whole test suite, multi-rank tests included,
# then Scripts/check_asan.sh (file writers under AddressSanitizer) when no arguments are given.
# The tests start mpirun themselves, one job at a time, each with --timeout.
# Extra arguments go to `swift test` (e.g. --filter RankLayoutTests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Scripts/bootstrap.sh
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
# The multi-host tests (MultiHostTests: hosts as network namespaces, Cluster/fake-hosts.sh) need
# root and iproute2; say plainly whether they run.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns list >/dev/null 2>&1; then
    echo "test: multi-host tests run (root, network namespaces available)"
else
    echo "test: multi-host tests SKIPPED: they need root and iproute2 (network namespaces); MultiHostTests reports them as skipped"
fi
echo "test: swift test $*"
start=$(date +%s)
swift test "$@"
if [ $# -eq 0 ]; then
    # What writes files, under AddressSanitizer (release build: see the script).
    Scripts/check_asan.sh
fi
echo "test: passed in $(( $(date +%s) - start )) s"
