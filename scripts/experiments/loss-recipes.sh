#!/usr/bin/env bash
# The loss recipes at equal steps against today's recipe (issue 21): today's loss, concept
# positives in the contrastive loss (--contrastive-positives concept) and caption label smoothing
# (--label-smoothing 0.1), each over the same seeds, preset, data, steps, batch and schedule.
# Each run is evaluated by `coca eval` (no baselines: they do not depend on the recipe);
# loss-recipes-table.ts then writes the table of EVAL.md's "Recipes" section with means and sds.
#   bash scripts/experiments/loss-recipes.sh [OUT_ROOT]   (env: PRESET DATA STEPS BATCH SEEDS MAX_ITEMS ARMS)
# Defaults: nano, builtin-small, 300 steps × 32, seeds 1 2, 300 items per split.
set -euo pipefail
STEPS="${STEPS:-300}"
SEEDS="${SEEDS:-1 2}"
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/loss-recipes}"
mkdir -p "$ROOT"
declare -A RECIPE=([today]="" [positives]="--contrastive-positives concept" [smoothing]="--label-smoothing 0.1")
for seed in $SEEDS; do
  for arm in ${ARMS:-today positives smoothing}; do
    run="$ROOT/$arm-s$seed"
    if [[ -f "$run/eval.json" ]]; then echo "skip $run (evaluated)"; continue; fi
    start=$(date +%s)
    if [[ ! -f "$run/checkpoints/last/model.safetensors" ]]; then
      rm -rf "$run"
      # shellcheck disable=SC2086
      node bin/coca.js train --preset "$PRESET" --data "$DATA" --steps "$STEPS" --batch "$BATCH" --seed "$seed" ${RECIPE[$arm]} --out "$run"
    fi
    node bin/coca.js eval "$run" --data "$DATA" --max-items "$MAX_ITEMS" --no-baselines --json "$run/eval.json"
    echo "$run: $(( $(date +%s) - start )) s" | tee -a "$ROOT/times.txt"
  done
done
npx tsx scripts/experiments/loss-recipes-table.ts "$ROOT"
