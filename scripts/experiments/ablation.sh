#!/usr/bin/env bash
# The CoCa paper's loss ablation on our data at one budget: contrastive-only (λ_cap = 0),
# captioning-only (λ_con = 0) and CoCa (λ_con = 1, λ_cap = 2), each over several seeds, every
# arm with the same preset, data, steps, batch and schedule. Each run is evaluated by `coca eval`;
# `coca compare` then puts all of them in one table (EVAL.md).
#   bash scripts/experiments/ablation.sh [OUT_ROOT]    (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS)
set -euo pipefail
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/ablation}"
declare -A ARMS=([coca]="--contrastive-weight 1 --caption-weight 2" [contrastive]="--contrastive-weight 1 --caption-weight 0" [captioning]="--contrastive-weight 0 --caption-weight 2")
for seed in $SEEDS; do
  for arm in coca contrastive captioning; do
    run="$ROOT/$arm-s$seed"
    # shellcheck disable=SC2086
    train_and_eval "$ROOT" "$run" node bin/coca.js train --preset "$PRESET" --data "$DATA" --steps "$STEPS" --batch "$BATCH" --seed "$seed" ${ARMS[$arm]} --out "$run"
  done
done
