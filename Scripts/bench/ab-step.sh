#!/usr/bin/env bash
# Two uso binaries' `bench step` figures, alternated A, B, A, B in one run (the machines are
# shared and noisy: compare only within a run), then each side's runs and median.
#
#   Scripts/bench/ab-step.sh A_BINARY B_BINARY [--rounds 5] [bench step options...]
#
# Example: the step of the parent commit against this one, one sample and a batch of 4:
#   git worktree add /tmp/parent HEAD~1 && (cd /tmp/parent && swift build -c release --product uso)
#   Scripts/bench/ab-step.sh /tmp/parent/.build/release/uso .build/release/uso --iterations 40
#   Scripts/bench/ab-step.sh /tmp/parent/.build/release/uso .build/release/uso --training-batch 4 --iterations 15
set -euo pipefail
if [ $# -lt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
a="$1" b="$2"; shift 2
rounds=5
if [ "${1:-}" = "--rounds" ]; then rounds="$2"; shift 2; fi
for bin in "$a" "$b"; do [ -x "$bin" ] || { echo "ab-step.sh: $bin is not an executable" >&2; exit 66; }; done
export OPENBLAS_NUM_THREADS=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for r in $(seq 1 "$rounds"); do
    "$a" bench step --preset small "$@" --json "$work/A-$r.json" > /dev/null
    "$b" bench step --preset small "$@" --json "$work/B-$r.json" > /dev/null
    echo "round $r of $rounds done" >&2
done
python3 - "$work" "$rounds" "$a" "$b" <<'PY'
import json, statistics as st, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), {"A": sys.argv[3], "B": sys.argv[4]}
speed = {}
for side in "AB":
    runs = [json.load(open(f"{work}/{side}-{r}.json")) for r in range(1, rounds + 1)]
    if "ratio" in runs[0]:
        ms = [(d["forwardSeconds"] + d["backwardSeconds"]) * 1e3 for d in runs]
        speed[side] = [1 / x for x in ms]
        ratio = [d["ratio"] for d in runs]
        print(f"{side} {names[side]}: step ms {' '.join('%.2f' % x for x in ms)} (median {st.median(ms):.2f}); "
              f"step/sgemm {' '.join('%.3f' % x for x in ratio)} (median {st.median(ratio):.3f}); "
              f"peak RSS {runs[0]['peakResidentBytes'] / 2**20:.0f} MiB")
    else:
        sps = [d["samplesPerSecond"] for d in runs]
        speed[side] = sps
        print(f"{side} {names[side]}: samples/s {' '.join('%.2f' % x for x in sps)} (median {st.median(sps):.2f}); "
              f"peak RSS {runs[0]['peakResidentBytes'] / 2**20:.0f} MiB")
# Each round's B against the A run just before it: the machine's load drifts slower than a round.
paired = [b / a for a, b in zip(speed["A"], speed["B"])]
print(f"B/A speed per round {' '.join('%.3f' % x for x in paired)} (median {st.median(paired):.3f}, "
      f"B faster in {sum(x > 1 for x in paired)} of {len(paired)})")
PY
