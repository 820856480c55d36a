#!/usr/bin/env bash
# The main job a new user runs: set up, then bring up a 2-rank MPI job and show it.
#
# Until training lands this is: Scripts/bootstrap.sh, `uso doctor` at 2 ranks (how the
# ranks came up: roles, hosts, thread levels, library versions) and `uso bench allreduce`
# at 2 ranks (what gradient sync can reach on this machine). Output also goes to
# runs/demo/ (doctor.txt, allreduce.txt, allreduce.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Scripts/bootstrap.sh
out=runs/demo
mkdir -p "$out"
echo
echo "== uso doctor, 2 ranks"
Cluster/launch-local.sh -np 2 --timeout 120 uso doctor | tee "$out/doctor.txt"
echo
echo "== uso bench allreduce, 2 ranks"
Cluster/launch-local.sh -np 2 --timeout 600 uso bench allreduce --json "$out/allreduce.json" | tee "$out/allreduce.txt"
echo
echo "demo: results in $out/ (doctor.txt, allreduce.txt, allreduce.json)"
