#!/usr/bin/env bash
# Issue 22's captioner table: CoCa, Show and Tell, Show-Attend-Tell (ViT and CNN towers) and the
# prefix captioner (over the same seed's CoCa tower, frozen), each `coca train` with its defaults
# at one budget (same steps, batch, data, schedule; the batches of a seed are the same), then
# `coca eval` on test-concept and test-style. CoCa's eval also gives the nearest-neighbour caption
# and the random-caption chance rows. Then scripts/experiments/captioners-table.ts.
#   bash scripts/experiments/captioners.sh [OUT_ROOT] [MODELS]   (env: DATA STEPS BATCH SEEDS MAX_ITEMS)
# MODELS defaults to "coca showtell sat sat-cnn prefix" (prefix needs that seed's coca run first).
set -euo pipefail
STEPS="${STEPS:-300}" MAX_ITEMS="${MAX_ITEMS:-400}" SEEDS="${SEEDS:-1 2}"
source "$(dirname "$0")/common.sh"
ROOT="${1:-runs/captioners}"
MODELS="${2:-coca showtell sat sat-cnn prefix}"
for seed in $SEEDS; do
  for m in $MODELS; do
    case $m in
      coca) args=(); baselines=();;
      showtell) args=(--arch showtell); baselines=(--no-baselines);;
      sat) args=(--arch sat); baselines=(--no-baselines);;
      sat-cnn) args=(--arch sat --config nano-cnn); baselines=(--no-baselines);;
      prefix) args=(--arch prefix --encoder "$ROOT/coca-s$seed"); baselines=(--no-baselines);;
      *) echo "unknown model $m (coca showtell sat sat-cnn prefix)" >&2; exit 2;;
    esac
    run="$ROOT/$m-s$seed"
    [[ -f "$run/eval.json" ]] && { echo "skip $run (evaluated)"; continue; }
    if [[ ! -f "$run/checkpoints/last/model.safetensors" ]]; then
      rm -rf "$run"
      start=$(date +%s)
      node bin/coca.js train "${args[@]}" --data "$DATA" --seed "$seed" --steps "$STEPS" --batch "$BATCH" --val-every 1000 --out "$run"
      echo "$m s$seed train_wall $(( $(date +%s) - start ))" >> "$ROOT/status"
    fi
    start=$(date +%s)
    node bin/coca.js eval "$run" --data "$DATA" --split test-concept,test-style --max-items "$MAX_ITEMS" "${baselines[@]}" --json "$run/eval.json"
    echo "$m s$seed eval_wall $(( $(date +%s) - start ))" >> "$ROOT/status"
  done
done
npx tsx scripts/experiments/captioners-table.ts "$ROOT"
