#!/usr/bin/env bash
# Runs what writes files under AddressSanitizer and fails on any report.
#
#   Scripts/check_asan.sh
#
# Builds `uso` with -sanitize=address in release (in .build-asan: the optimiser ends locals'
# lifetimes at their last use, which is where a pointer can outlive its owner; a debug build
# hides that), and runs, at preset tiny:
# model dump; data synth; a short base training with a save every 2 steps, then a resume;
# generate from the trained weights (subject+style from the set, and from image files); and
# data import of a UNO-format JSON over the generated PNGs; data inspect and sheet; a csd
# and a uso training (style reward on); uso bench step; ZeRO-1, merge, export, bench ckpt,
# the diagnostics, a stall abort, and a reward service with a training through it. Any AddressSanitizer report
# (a use after free, an overflow) stops the command and this script with its report.
# Leak checking is off: Open MPI and the Swift runtime keep memory until exit by design.
# Checked against the code before the writer fix: its model dump stops with
# "heap-use-after-free" in SafeTensorsWriter.write.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
echo "check_asan: building uso with AddressSanitizer (.build-asan)"
swift build -c release --scratch-path .build-asan --product uso -Xswiftc -sanitize=address > /tmp/uso-asan-build.log 2>&1 \
    || { cat /tmp/uso-asan-build.log >&2; echo "check_asan: the ASan build failed" >&2; exit 1; }
uso="$PWD/.build-asan/release/uso"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=66"
export OPENBLAS_NUM_THREADS=1
step() {
    local name="$1"; shift
    if ! "$@" > "$work/$name.log" 2>&1 || grep -q "AddressSanitizer" "$work/$name.log"; then
        cat "$work/$name.log" >&2
        echo "check_asan: FAILED: $name ($*)" >&2
        exit 1
    fi
    echo "check_asan: ok: $name"
}
repo="$PWD"
cd "$work"
step "model dump" "$uso" model dump --preset tiny --seed 7 --out dump
step "data synth" "$uso" data synth --out data --resolution 32 --triplets 48 --pairs 48 --style-images 16 --shard-size 16
cat > base.toml <<TOML
[run]
stage = "base"
preset = "tiny"
out = "$work/run"
steps = 4
save_every = 2
init_weights = "random"
[data]
path = "$work/data/pairs"
global_batch = 4
TOML
step "train with saves" "$uso" train --config base.toml --progress none
step "resume" "$uso" train --resume "$work/run" --steps 6 --progress none
step "generate from the set" "$uso" generate --weights run/weights --preset tiny --data data/triplets --mode subject+style --count 2 --steps 3 --out gen
step "generate from files" "$uso" generate --weights run/weights --preset tiny --content gen/000.png --style gen/001.png --prompt "a cat" \
    --count 1 --steps 3 --out gen-files
cat > uno.json <<JSON
[{"prompt": "a cat in a style", "image_paths": ["gen/000.png", "gen/001.png"], "image_tgt_path": "gen/000.png"},
 {"prompt": "another", "image_paths": ["gen/001.png", "gen/000.png"], "image_tgt_path": "gen-files/000.png"}]
JSON
step "data import" "$uso" data import uno.json --out imported --resolution 32
step "data inspect" "$uso" data inspect data
step "data sheet" "$uso" data sheet data/triplets --out sheet.png --count 4
step "csd training" "$uso" train --config "$repo/Cluster/configs/tiny-csd.toml" --progress none --set run.out="$work/csd" \
    --set data.path="$work/data/styles" --set run.steps=2
step "uso training with the style reward" "$uso" train --config "$repo/Cluster/configs/tiny-uso.toml" --progress none \
    --set run.out="$work/uso" --set data.path="$work/data/triplets" --set run.init_weights="$work/run/weights" --set run.steps=2 \
    --set reward.mode=colocated --set reward.csd_weights="$work/csd/weights" --set reward.start_step=0
step "bench step" "$uso" bench step --preset tiny --iterations 2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe -np 2 --timeout 300 -x ASAN_OPTIONS -x OPENBLAS_NUM_THREADS)
step "ZeRO-1 training with background saves at 2 ranks" "${mpi[@]}" "$uso" train --config base.toml --progress none \
    --set run.out="$work/zero" --set optim.shard_state=true --set run.save_every=1
step "ckpt merge of shards" "$uso" ckpt merge "$work/zero/checkpoints/step_00000004" --out merged.safetensors
step "sharded resume at 1 rank" "$uso" train --resume "$work/zero" --steps 6 --progress none
step "ckpt export --average" "$uso" ckpt export "$work/run/checkpoints/step_00000006" --out mean --average 2
step "ckpt export --fuse" "$uso" ckpt export "$work/uso/checkpoints/step_00000002" --out fused --fuse --dtype bf16
step "bench ckpt" "${mpi[@]}" "$uso" bench ckpt --preset tiny --rounds 1 --folder "$work/bench-ckpt"
step "diag timeline" "$uso" diag timeline "$work/zero" --out trace.json
step "bench allreduce --json" "${mpi[@]}" "$uso" bench allreduce --max-size 64KiB --json "$work/zero/diag/allreduce.json"
step "diag report --html --json" "$uso" diag report "$work/zero" --html report.html --json report.json
# The stall inspector's dump: a trainer whose data is late, the job ended at stall_abort_s (its exit is expected).
if "${mpi[@]}" -x USO_FAULT_DATA_DELAY=1:2:20 "$uso" train --config base.toml --progress none --set run.out="$work/stall" \
    --set diag.stall_warn_s=1 --set diag.stall_abort_s=3 > "$work/stall.log" 2>&1; then
    cat "$work/stall.log" >&2; echo "check_asan: FAILED: the stalled job did not end with an error" >&2; exit 1
fi
if grep -q "AddressSanitizer" "$work/stall.log" || ! grep -q "ending the job" "$work/stall.log"; then
    cat "$work/stall.log" >&2; echo "check_asan: FAILED: stall inspector" >&2; exit 1
fi
echo "check_asan: ok: stall inspector abort and dump"
# The reward outside the job: a service on a free port, a 2-trainer training through it, and the
# service ending with its trainers.
"$uso" reward serve --config "$repo/Cluster/configs/tiny-uso.toml" --set reward.csd_weights="$work/csd/weights" \
    --listen 127.0.0.1:0 --address-file "$work/reward.addr" > "$work/serve.log" 2>&1 &
serve=$!
for _ in $(seq 1 300); do [ -s "$work/reward.addr" ] && break; sleep 0.1; done
step "uso training through a reward service" "${mpi[@]}" "$uso" train --config "$repo/Cluster/configs/tiny-uso.toml" --progress none \
    --set run.out="$work/uso-service" --set data.path="$work/data/triplets" --set run.init_weights="$work/run/weights" --set run.steps=2 \
    --set reward.mode=service --set reward.service="$(cat "$work/reward.addr")" --set reward.csd_weights="$work/csd/weights" --set reward.start_step=0
if ! wait "$serve" || grep -q "AddressSanitizer" "$work/serve.log" || ! grep -q "every trainer is done" "$work/serve.log"; then
    cat "$work/serve.log" >&2; echo "check_asan: FAILED: reward serve" >&2; exit 1
fi
echo "check_asan: ok: reward serve"
echo "check_asan: no AddressSanitizer report"
