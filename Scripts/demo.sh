#!/usr/bin/env bash
# The main job a new user runs: set up, then bring up a 2-rank MPI job and show it.
#
# Until training lands this is: Scripts/bootstrap.sh, `uso doctor` at 2 ranks (how the
# ranks came up: roles, hosts, thread levels, library versions), `uso data synth` at 2 ranks
# (the built-in world) with a contact sheet of triplets, and `uso bench allreduce` at 2
# ranks (what gradient sync can reach on this machine). Everything goes to runs/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Scripts/bootstrap.sh
out=runs/demo
mkdir -p "$out"
echo
echo "== uso doctor, 2 ranks"
Cluster/launch-local.sh -np 2 --timeout 120 uso doctor | tee "$out/doctor.txt"
echo
echo "== uso data synth, 2 ranks"
rm -rf "$out/data"
Cluster/launch-local.sh -np 2 --timeout 600 uso data synth --out "$out/data" --resolution 64 \
    --triplets 1024 --pairs 1024 --style-images 1024
.build/release/uso data sheet "$out/data/triplets" --out "$out/triplets-sheet.png" --count 12
echo
echo "== uso bench allreduce, 2 ranks"
Cluster/launch-local.sh -np 2 --timeout 600 uso bench allreduce --json "$out/allreduce.json" | tee "$out/allreduce.txt"
echo
echo "demo: results in $out/: doctor.txt, data/ (triplets, pairs, styles), triplets-sheet.png, allreduce.txt, allreduce.json"
