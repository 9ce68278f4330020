#!/usr/bin/env bash
# Issue 21's recipes at equal steps against today's recipe, each over the same seeds, preset,
# data, steps, batch and schedule: concept positives in the contrastive loss, caption label
# smoothing (docs/model.md "Losses"), the training augmentations and the moving average of the
# weights (docs/recipes.md). Each run is evaluated by `coca eval` on test-concept and test-style
# (no baselines: they do not depend on the recipe); recipes-table.ts then writes EVAL.md's table.
#   bash scripts/experiments/recipes.sh [OUT_ROOT]   (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS ARMS)
# Defaults: nano, builtin-small, 300 steps × 32, seeds 1 2, 300 items per split, every arm.
set -euo pipefail
STEPS="${STEPS:-300}"
SEEDS="${SEEDS:-1 2}"
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/recipes}"
mkdir -p "$ROOT"
declare -A RECIPE=([today]="" [positives]="--contrastive-positives concept" [smoothing]="--label-smoothing 0.1"
  [augment]="--augment colour,grey,blur" [ema]="--ema 0.999")
ARMS="${ARMS:-today positives smoothing augment ema}"
for seed in $SEEDS; do
  for arm in $ARMS; do
    [[ -v "RECIPE[$arm]" ]] || { echo "recipes.sh: unknown arm '$arm' (arms: ${!RECIPE[*]})" >&2; exit 2; }
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
# shellcheck disable=SC2086
npx tsx scripts/experiments/recipes-table.ts "$ROOT" $ARMS
