#!/usr/bin/env bash
# Set up (Scripts/bootstrap.sh) and run the whole test suite, multi-rank tests included.
# The tests start mpirun themselves, one job at a time, each with --timeout.
# Extra arguments go to `swift test` (e.g. --filter RankLayoutTests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Scripts/bootstrap.sh
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
echo "test: swift test $*"
start=$(date +%s)
swift test "$@"
echo "test: passed in $(( $(date +%s) - start )) s"
