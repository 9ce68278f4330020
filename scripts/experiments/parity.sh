#!/usr/bin/env bash
# Training parity at length: the PyTorch reference (scripts/reference/coca_torch.py --train) trained
# on the very batches coca's loader draws, with coca's preset, steps, batch, schedule and seeds,
# then scored by the same `coca eval`. Compare with coca runs of the same settings
# (scripts/experiments/ablation.sh's CoCa arm, or `coca train`), and overlay the loss curves with
# `coca compare`.
#   bash scripts/experiments/parity.sh [OUT_ROOT]    (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS THREADS)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="${1:-runs/parity}"
PRESET="${PRESET:-nano}"
DATA="${DATA:-builtin-small}"
STEPS="${STEPS:-600}"
BATCH="${BATCH:-32}"
SEEDS="${SEEDS:-1 2 3}"
MAX_ITEMS="${MAX_ITEMS:-300}"
THREADS="${THREADS:-2}"
for seed in $SEEDS; do
  run="$ROOT/$PRESET-torch-s$seed"
  if [[ -f "$run/eval.json" ]]; then echo "skip $run (evaluated)"; continue; fi
  start=$(date +%s)
  if [[ ! -f "$run/checkpoints/last/model.safetensors" ]]; then
    rm -rf "$run"
    /usr/bin/python3 scripts/reference/coca_torch.py --config "$PRESET" --train --data "$DATA" --steps "$STEPS" --batch "$BATCH" --seed "$seed" --threads "$THREADS" --out "$run"
  fi
  node bin/coca.js eval "$run" --data "$DATA" --max-items "$MAX_ITEMS" --json "$run/eval.json"
  echo "$run: $(( $(date +%s) - start )) s" | tee -a "$ROOT/times.txt"
done
