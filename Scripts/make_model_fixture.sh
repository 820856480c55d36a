#!/usr/bin/env bash
# Regenerates Tests/USOModelTests/Fixtures/tiny: `uso model dump` at preset tiny, then the
# independent JAX reference (Scripts/reference/uso_reference.py, float64) on that dump.
# The Swift tests recompute v_hat, the loss and the LoRA/projector gradients from the
# committed weights and inputs and compare them with the committed reference, and likewise
# the frozen encoders (style encoder taps and pooled feature with its image gradient,
# autoencoder encode, decode and decode backward, text encoder states and pooled vector).
#
#   python3 -m pip install jax safetensors numpy   (once)
#   Scripts/make_model_fixture.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 -c "import jax" 2>/dev/null || { echo "make_model_fixture: needs JAX: python3 -m pip install jax" >&2; exit 69; }
swift build --product uso >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
.build/debug/uso model dump --preset tiny --seed 7 --out "$tmp/dump"
python3 Scripts/reference/uso_reference.py "$tmp/dump" --write "$tmp/dump/reference.safetensors"
out=Tests/USOModelTests/Fixtures/tiny
rm -rf "$out"
mkdir -p "$out/weights"
cp "$tmp/dump/config.json" "$tmp/dump/inputs.safetensors" "$tmp/dump/reference.safetensors" "$out/"
cp "$tmp"/dump/weights/*.safetensors "$out/weights/"
du -sh "$out"
