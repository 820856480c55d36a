#!/usr/bin/env bash
# Counts heap allocations per training step of the generator: runs `uso bench step` under
# valgrind's memcheck at two iteration counts and divides the difference in allocations by
# the difference in steps. A step (forward + backward of one sample) should allocate
# nothing once its buffers exist; the few allocations left are the benchmark's own timing
# arrays growing.
#
#   Scripts/check_step_allocations.sh [preset]      (default tiny; needs valgrind)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset="${1:-tiny}"
command -v valgrind >/dev/null || { echo "check_step_allocations: needs valgrind (apt-get install valgrind)" >&2; exit 69; }
swift build -c release --product uso >/dev/null
# valgrind cannot read Swift's DWARF 5: count on a stripped copy.
binary="$(mktemp)"
trap 'rm -f "$binary"' EXIT
strip -o "$binary" .build/release/uso
count() {
    # uso may re-execute itself to choose OpenBLAS's kernels, which valgrind would not follow:
    # name the core (the one uso would choose) so the counted process is the one started.
    OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$binary" doctor --blas-core)}" OPENBLAS_NUM_THREADS=1 valgrind --tool=memcheck --leak-check=no "$binary" bench step --preset "$preset" --iterations "$1" 2>&1 \
        | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,
}
a=$(count 2)
b=$(count 22)
echo "preset $preset: $a allocations with 2 timed steps, $b with 22"
echo "per step: $(( (b - a) / 20 )) (integer division; the remainder is the timing arrays' growth)"
