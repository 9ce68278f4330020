#!/usr/bin/env bash
# Training parity at length: the PyTorch reference (scripts/reference/coca_torch.py --train) trained
# on the very batches coca's loader draws, with coca's preset, steps, batch, schedule and seeds,
# then scored by the same `coca eval`. Compare with coca runs of the same settings
# (scripts/experiments/ablation.sh's CoCa arm, or `coca train`), and overlay the loss curves with
# `coca compare`.
#   bash scripts/experiments/parity.sh [OUT_ROOT]    (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS THREADS)
set -euo pipefail
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/parity}"
THREADS="${THREADS:-2}"
for seed in $SEEDS; do
  run="$ROOT/$PRESET-torch-s$seed"
  train_and_eval "$ROOT" "$run" /usr/bin/python3 scripts/reference/coca_torch.py --config "$PRESET" --train --data "$DATA" \
    --steps "$STEPS" --batch "$BATCH" --seed "$seed" --threads "$THREADS" --out "$run"
done
