#!/usr/bin/env bash
# Debian's OpenBLAS (A) against a newer OpenBLAS (B: PyPI's scipy-openblas32 wheel, whose
# symbols carry a scipy_ prefix) on the model's GEMM shapes, one thread, alternated in one
# run: whether a newer OpenBLAS would run this CPU's products faster.
#
#   Scripts/bench/sgemm-libs.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --quiet --disable-pip-version-check scipy-openblas32 -d "$work"
(cd "$work" && python3 -m zipfile -e scipy_openblas32-*.whl wheel)
echo "B is the wheel $(basename "$work"/scipy_openblas32-*.whl)"
gcc -O2 -o "$work/sgemm_libs" sgemm_libs.c -ldl
OPENBLAS_NUM_THREADS=1 "$work/sgemm_libs" /usr/lib/x86_64-linux-gnu/libopenblas.so.0 \
    "$work/wheel/scipy_openblas32/lib/libscipy_openblas.so" scipy_
