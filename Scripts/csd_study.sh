#!/usr/bin/env bash
# The CSD style model's training, before and after the loss over the global batch:
#   before: csd.loss_over = "micro_batch", csd.images_per_style = 1 (a loss per micro-batch
#           of a plain shuffle, as stage csd trained until December 2026)
#   after:  csd.loss_over = "global_batch", csd.images_per_style = 4 (the defaults)
# each at 2 trainers, preset small, 300 steps, seeds 1 2 3, on two styles sets: the demo's
# (40 styles, 4 held out) and a harder one with 12 held-out styles. Prints per run the steps
# whose loss (and gradient) was zero and `uso eval csd` on the set's eval rows (style
# retrieval: top-1 and mAP with 95% bootstrap intervals), then the means over seeds.
#
# With --reward, also the effect on the style reward: stage uso with the reward on a
# dedicated rank (Cluster/configs/small-uso-asr.toml, from the demo's base, its seed 42)
# rewarded by each of the six demo-set CSDs above (before and after, seeds 1 2 3), and
# `uso eval style` of every run scored by three CSD models: the before and after CSD of
# seed 1, and one trained apart (after recipe, seed 99) that no run optimised. About 20 min.
#
#   Scripts/csd_study.sh [--reward] [--out DIR]     (needs Scripts/demo.sh's runs/demo first
#                                                    for the demo data and, with --reward, its base)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
reward=0
out=runs/csd-study
while [ $# -gt 0 ]; do
    case "$1" in
        --reward) reward=1; shift ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "csd_study.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
demo=runs/demo
[ -f "$demo/data/styles/manifest.json" ] || { echo "csd_study.sh: $demo/data/styles not found: run Scripts/demo.sh first" >&2; exit 66; }
start=$(date +%s)
mkdir -p "$out"
uso=.build/release/uso
launch() { Cluster/launch-local.sh -np "$1" --timeout 1800 "${@:2}"; }

if [ ! -f "$out/data-h12/styles/manifest.json" ]; then
    launch 2 uso data synth --out "$out/data-h12" --resolution 64 --triplets 8 --pairs 8 --style-images 2048 --held-out-styles 12 >/dev/null
fi
sets=("demo:$demo/data" "h12:$out/data-h12")
recipe() {
    case "$1" in
        before) echo "--set csd.loss_over=micro_batch --set csd.images_per_style=1" ;;
        after) echo "--set csd.loss_over=global_batch --set csd.images_per_style=4" ;;
    esac
}
train_csd() {   # name set-dir recipe seed
    local run="$out/csd-$1"
    if [ ! -f "$run/weights/csd.safetensors" ]; then
        # shellcheck disable=SC2046
        launch 2 uso train --config Cluster/configs/small-csd.toml --progress none --set run.out="$run" \
            --set data.path="$2/styles" --set run.seed="$4" $(recipe "$3") >/dev/null
    fi
    "$uso" eval csd --csd "$run/weights" --data "$2" --json > "$run/eval-csd.json"
}
for entry in "${sets[@]}"; do
    set_name=${entry%%:*}; set_dir=${entry#*:}
    for r in before after; do
        for seed in 1 2 3; do train_csd "$set_name-$r-$seed" "$set_dir" "$r" "$seed"; done
    done
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def row(name):
    m = [json.loads(l) for l in open(f"{out}/csd-{name}/metrics.jsonl")]
    e = json.load(open(f"{out}/csd-{name}/eval-csd.json"))
    return sum(1 for x in m if x["grad_norm"] == 0), len(m), e
def fmt(s):
    return f"{s['mean']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"
print(f"{'set':5} {'recipe':7} {'seed':>4} {'zero steps':>10}  {'held-out styles top-1':>24} {'held-out styles mAP':>24}  {'trained styles mAP':>24}")
for s in ["demo", "h12"]:
    for r in ["before", "after"]:
        means = {"ho_top1": [], "ho_map": [], "tr_map": []}
        for seed in [1, 2, 3]:
            zero, steps, e = row(f"{s}-{r}-{seed}")
            ho, tr = e["heldOutStyles"], e["trainedStyles"]
            means["ho_top1"].append(ho["top1"]["mean"]); means["ho_map"].append(ho["meanAveragePrecision"]["mean"])
            means["tr_map"].append(tr["meanAveragePrecision"]["mean"])
            print(f"{s:5} {r:7} {seed:>4} {f'{zero}/{steps}':>10}  {fmt(ho['top1']):>24} {fmt(ho['meanAveragePrecision']):>24}  {fmt(tr['meanAveragePrecision']):>24}")
        avg = {k: sum(v) / len(v) for k, v in means.items()}
        print(f"{s:5} {r:7} {'mean':>4} {'':>10}  {avg['ho_top1']:>24.3f} {avg['ho_map']:>24.3f}  {avg['tr_map']:>24.3f}")
    e = json.load(open(f"{out}/csd-{s}-after-1/eval-csd.json"))
    print(f"      ({s}: gallery {e['galleryImages']} eval images of {e['galleryStyles']} styles, held-out styles {e['heldOutStyleIDs']}, "
          f"chance top-1 {e['heldOutStyles']['chance']:.3f} held-out, {e['trainedStyles']['chance']:.3f} trained)")
PY

if [ "$reward" = 1 ]; then
    [ -f "$demo/base/weights/base.safetensors" ] || { echo "csd_study.sh: $demo/base/weights not found: run Scripts/demo.sh first" >&2; exit 66; }
    train_csd "demo-after-99" "$demo/data" after 99
    for r in before after; do
        for seed in 1 2 3; do
            run="$out/uso-$r-$seed"
            if [ ! -f "$run/weights/projector.safetensors" ]; then
                launch 3 uso train --config Cluster/configs/small-uso-asr.toml --progress none --set run.out="$run" \
                    --set data.path="$demo/data/triplets" --set run.init_weights="$demo/base/weights" \
                    --set reward.csd_weights="$out/csd-demo-$r-$seed/weights" >/dev/null
            fi
            for judge in before-1 after-1 after-99; do
                [ -f "$run/eval-style-by-$judge.txt" ] || "$uso" eval style --weights "$run/weights" --csd "$out/csd-demo-$judge/weights" \
                    --data "$demo/data/triplets" --count 64 > "$run/eval-style-by-$judge.txt"
            done
        done
    done
    python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
print()
print("stage uso with the style reward (seed 42), rewarded by a before or an after CSD (seeds 1 2 3); uso eval style (64 held-out triplets) by three CSDs:")
print(f"{'rewarded by':12} {'reward, last 100 steps':>23} {'by before-1':>20} {'by after-1':>20} {'by after-99 (apart)':>20}")
judges = ["before-1", "after-1", "after-99"]
for r in ["before", "after"]:
    sums = [0.0, 0.0, 0.0]
    for seed in [1, 2, 3]:
        m = [json.loads(l) for l in open(f"{out}/uso-{r}-{seed}/metrics.jsonl")]
        rewards = [x["reward"] for x in m[-100:] if x.get("reward") is not None]
        cells = []
        for k, judge in enumerate(judges):
            t = open(f"{out}/uso-{r}-{seed}/eval-style-by-{judge}.txt").read()
            g = re.search(r"on (\d+) held-out triplets: CSD style similarity ([-0-9.]+) \+- ([0-9.]+)", t)
            n, mean, std = int(g.group(1)), float(g.group(2)), float(g.group(3))
            sums[k] += mean / 3
            cells.append(f"{mean:.3f} +- {1.96 * std / n ** 0.5:.3f}")
        mean_reward = sum(rewards) / len(rewards) if rewards else float("nan")
        print(f"{r + '-' + str(seed):12} {mean_reward:>23.4f} {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}")
    print(f"{r + ' mean':12} {'':>23} {sums[0]:>20.3f} {sums[1]:>20.3f} {sums[2]:>20.3f}")
for judge in judges:
    t = open(f"{out}/uso-after-1/eval-style-by-{judge}.txt").read()
    c = re.search(r"own style references ([-0-9.]+), vs another triplet's ([-0-9.]+)", t)
    print(f"  judge {judge}: real targets {float(c.group(1)):.3f} against their own style references, {float(c.group(2)):.3f} against another's")
print("(each cell: the generations' mean CSD similarity to their style references +- 1.96 standard errors over the 64 images;")
print(" the reward column is each run's own CSD scoring its training samples, not comparable across rows)")
PY
fi
echo "csd_study.sh: $(( $(date +%s) - start )) s; runs in $out"
