#!/usr/bin/env bash
# The main job a new user runs: set up, synthesise the built-in world, train every stage
# with several ranks, generate samples, and say where everything is. About 10 minutes on
# 2 cores after the build.
#
#   1. Scripts/bootstrap.sh (Debian and Python packages when missing; release build)
#   2. uso doctor at 2 ranks: how the ranks came up
#   3. uso data synth at 2 ranks: triplets, text-to-image pairs, style-labelled images (64 px)
#   4. uso train, preset small: autoencoder -> base -> csd at 2 ranks, then uso with the
#      style reward at 3 ranks (2 trainers + 1 dedicated reward rank hosting the CSD model)
#      (configs in Cluster/configs, paths redirected into runs/demo with --set)
#      and uso eval csd: the CSD model's style retrieval on held-out images
#   5. uso generate: subject+style, multi-style and text-only samples on held-out triplets,
#      and uso eval style: CSD style similarity of 64 generations to their references
# Everything goes to runs/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
Scripts/bootstrap.sh
out=runs/demo
rm -rf "$out"
mkdir -p "$out"
launch() { Cluster/launch-local.sh -np 2 --timeout 1800 "$@"; }
launch3() { Cluster/launch-local.sh -np 3 --timeout 1800 "$@"; }
section() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

section "uso doctor, 2 ranks"
launch uso doctor | tee "$out/doctor.txt"

section "uso data synth, 2 ranks"
launch uso data synth --out "$out/data" --resolution 64 --triplets 2048 --pairs 2048 --style-images 1024
.build/release/uso data sheet "$out/data/triplets" --out "$out/triplets-sheet.png" --count 12

for stage in autoencoder base csd; do
    section "uso train --stage $stage, 2 ranks"
    case $stage in
        autoencoder) set="data/triplets"; init="" ;;
        base) set="data/pairs"; init="$out/autoencoder/weights" ;;
        csd) set="data/styles"; init="" ;;
    esac
    launch uso train --config "Cluster/configs/small-$stage.toml" --progress lines \
        --set run.out="$out/$stage" --set data.path="$out/$set" --set run.init_weights="$init"
done
section "uso eval csd: the style model's retrieval on held-out images"
.build/release/uso eval csd --csd "$out/csd/weights" --data "$out/data" | tee "$out/eval-csd.txt"

section "uso train --stage uso with the style reward, 2 trainers + 1 reward rank"
launch3 uso train --config Cluster/configs/small-uso-asr.toml --progress lines \
    --set run.out="$out/uso" --set data.path="$out/data/triplets" --set run.init_weights="$out/base/weights" \
    --set reward.csd_weights="$out/csd/weights"

section "uso generate"
for mode in subject+style multi-style text; do
    .build/release/uso generate --weights "$out/uso/weights" --data "$out/data/triplets" --mode "$mode" --count 8 \
        --out "$out/samples/$mode"
done

.build/release/uso eval style --weights "$out/uso/weights" --csd "$out/csd/weights" --data "$out/data/triplets" \
    --count 64 | tee "$out/eval-style.txt"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for stage in ["autoencoder", "base", "csd", "uso"]:
    rows = [json.loads(l) for l in open(f"{out}/{stage}/metrics.jsonl")]
    first = sum(r["loss"] for r in rows[:20]) / min(20, len(rows))
    last = sum(r["loss"] for r in rows[-20:]) / min(20, len(rows))
    print(f"  {stage:12s} {len(rows):5d} steps: loss {first:.4f} (mean of the first 20) -> {last:.4f} (mean of the last 20)")
rewards = [r["reward"] for r in (json.loads(l) for l in open(f"{out}/uso/metrics.jsonl")) if r.get("reward") is not None]
if rewards:
    print(f"  uso style reward: {sum(rewards[:20]) / len(rewards[:20]):.4f} (first 20 rewarded steps) -> {sum(rewards[-20:]) / len(rewards[-20:]):.4f} (last 20)")
PY

section "done"
cat <<MSG
demo: everything is in $out/
  doctor.txt                    how the ranks came up
  data/                         the built-in world (triplets/, pairs/, styles/, world.json); triplets-sheet.png
  autoencoder/ base/ csd/ uso/  each run: metrics.jsonl, weights/ (safetensors), checkpoints/, config.toml
  samples/<mode>/sheet.png      generated images beside their conditions (held-out subjects and styles)
  eval-csd.txt                  the CSD model's style retrieval on held-out images (top-1, mAP)
  eval-style.txt                CSD style similarity of 64 generations to their style references
MSG
