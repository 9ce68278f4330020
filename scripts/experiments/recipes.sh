#!/usr/bin/env bash
# The recipes outside the losses at equal steps against today's recipe (issue 21): the training
# augmentations (--augment colour,grey,blur) and the moving average of the weights (--ema 0.999),
# each over the same seeds, preset, data, steps, batch and schedule as today's. Each run is
# evaluated by `coca eval` on test-concept and test-style (no baselines: they do not depend on the
# recipe); recipes-table.ts then writes the table of EVAL.md's "Recipes" section.
#   bash scripts/experiments/recipes.sh [OUT_ROOT]   (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS ARMS)
# Defaults: nano, builtin-small, 300 steps × 32, seeds 1 2, 300 items per split. A today-sN run
# already made by loss-recipes.sh (same command) can be linked in instead of trained again.
set -euo pipefail
STEPS="${STEPS:-300}"
SEEDS="${SEEDS:-1 2}"
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/recipes}"
mkdir -p "$ROOT"
declare -A RECIPE=([today]="" [augment]="--augment colour,grey,blur" [ema]="--ema 0.999")
for seed in $SEEDS; do
  for arm in ${ARMS:-today augment ema}; do
    run="$ROOT/$arm-s$seed"
    if [[ -f "$run/eval.json" ]]; then echo "skip $run (evaluated)"; continue; fi
    start=$(date +%s)
    if [[ ! -f "$run/checkpoints/last/model.safetensors" ]]; then
      rm -rf "$run"
      # shellcheck disable=SC2086
      node bin/coca.js train --preset "$PRESET" --data "$DATA" --steps "$STEPS" --batch "$BATCH" --seed "$seed" ${RECIPE[$arm]} --out "$run"
    fi
    node bin/coca.js eval "$run" --data "$DATA" --split test-concept,test-style --max-items "$MAX_ITEMS" --no-baselines --json "$run/eval.json"
    echo "$run: $(( $(date +%s) - start )) s" | tee -a "$ROOT/times.txt"
  done
done
npx tsx scripts/experiments/recipes-table.ts "$ROOT" today="today's recipe" augment="--augment colour,grey,blur" ema="--ema 0.999"
