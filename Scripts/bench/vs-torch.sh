#!/usr/bin/env bash
# Stage-uso training speed, this project against PyTorch on the same model, one thread each.
#
#   Scripts/bench/vs-torch.sh [--preset small] [--batch 4] [--rounds 3]
#
# Both sides train the same FLUX/USO model at the preset's dimensions (frozen base, LoRA and
# projector trained, AdamW) on batches with the same token counts: `uso bench step
# --training-batch` and Scripts/bench/uso_torch.py (whose model is first checked against the
# committed JAX reference at preset tiny: same blocks, LoRA places and token layout). Rounds
# alternate A, B, A, B so both see the same machine load; each side's median samples/s over
# the rounds and their ratio are printed. Installs torch from PyPI when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
preset=small batch=4 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "vs-torch.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
if ! python3 -c "import torch" 2>/dev/null; then
    echo "vs-torch: installing torch from PyPI (a few minutes, several GB)"
    python3 -m pip install --quiet --disable-pip-version-check torch safetensors numpy
fi
[ -x .build/release/uso ] || swift build -c release --product uso >/dev/null
uso=.build/release/uso
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "vs-torch: checking the PyTorch model against the JAX reference (preset tiny)"
python3 Scripts/bench/uso_torch.py check Tests/USOModelTests/Fixtures/tiny | tail -2
"$uso" model info --preset "$preset" --config-json > "$work/config.json"
"$uso" doctor 2>/dev/null | grep -E "^(CPU|BLAS core|Kernels):" || true

for r in $(seq 1 "$rounds"); do
    "$uso" bench step --preset "$preset" --training-batch "$batch" --iterations 10 --json "$work/uso-$r.json" > /dev/null
    python3 Scripts/bench/uso_torch.py bench "$work/config.json" --batch "$batch" --steps 10 > "$work/torch-$r.json"
    python3 - "$work/uso-$r.json" "$work/torch-$r.json" "$r" <<'PY'
import json, sys
u, t = (json.load(open(p)) for p in sys.argv[1:3])
print(f"round {sys.argv[3]}: uso {u['samplesPerSecond']:.2f} samples/s, PyTorch {t['samples_per_second']:.2f} samples/s")
PY
done
python3 - "$work" "$rounds" "$preset" "$batch" <<'PY'
import json, statistics, sys
work, rounds, preset, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
u = [json.load(open(f"{work}/uso-{r}.json")) for r in range(1, rounds + 1)]
t = [json.load(open(f"{work}/torch-{r}.json")) for r in range(1, rounds + 1)]
assert u[0]["trainableParameters"] == t[0]["trainable_parameters"], "the two models train different parameter counts"
us, ts = statistics.median(x["samplesPerSecond"] for x in u), statistics.median(x["samples_per_second"] for x in t)
print(f"preset {preset}, batch {batch}, {u[0]['jointTokens']} joint tokens per sample, {u[0]['trainableParameters']} trainable parameters, one thread")
print(f"uso ({u[0]['blasCore']} BLAS, {u[0]['kernelTier']} kernels): {us:.2f} samples/s; {t[0]['implementation']} ({t[0]['cpu_capability']}): {ts:.2f} samples/s")
print(f"uso / PyTorch = {us / ts:.2f}")
PY
