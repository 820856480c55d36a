#!/usr/bin/env bash
# Prints the losses and gradient norms of a fixed-seed tiny run of every stage (autoencoder,
# base, csd at 2 ranks; uso with the style reward on a dedicated reward rank at 3), then
# one digest of them all. A change that claims to change no behaviour (a refactor) must
# leave the digest unchanged: run this before and after it.
#
#   Scripts/check_same_losses.sh [USO_BINARY]     (default .build/release/uso)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
uso="$(realpath "${1:-.build/release/uso}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run() { Cluster/launch-local.sh "$@" >/dev/null; }
"$uso" data synth --out "$work/data" --resolution 32 --triplets 48 --pairs 32 --style-images 32 --shard-size 16 >/dev/null
common=(--progress none --set run.seed=11 --set data.global_batch=4)
run -np 2 --timeout 300 "$uso" train --config Cluster/configs/tiny-autoencoder.toml "${common[@]}" --set run.out="$work/ae" \
    --set data.path="$work/data/triplets" --set run.steps=3
run -np 2 --timeout 300 "$uso" train --config Cluster/configs/tiny-base.toml "${common[@]}" --set run.out="$work/base" \
    --set data.path="$work/data/pairs" --set run.init_weights="$work/ae/weights" --set run.steps=4
run -np 2 --timeout 300 "$uso" train --config Cluster/configs/tiny-csd.toml "${common[@]}" --set run.out="$work/csd" \
    --set data.path="$work/data/styles" --set run.steps=3 --set data.global_batch=8
run -np 3 --timeout 300 "$uso" train --config Cluster/configs/tiny-uso-asr.toml "${common[@]}" --set run.out="$work/uso" \
    --set data.path="$work/data/triplets" --set run.init_weights="$work/base/weights" --set run.steps=4 \
    --set reward.csd_weights="$work/csd/weights" --set reward.start_step=0
python3 - "$work" <<'PY'
import hashlib, json, sys
work = sys.argv[1]
text = ""
for stage in ["ae", "base", "csd", "uso"]:
    for line in open(f"{work}/{stage}/metrics.jsonl"):
        m = json.loads(line)
        row = f"{stage} step {m['step']} loss {m['loss']!r} grad_norm {m['grad_norm']!r} reward {m.get('reward')!r}"
        print(row)
        text += row + "\n"
print("digest", hashlib.sha256(text.encode()).hexdigest()[:16])
PY
