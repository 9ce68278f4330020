#!/usr/bin/env bash
# The README's main job, end to end on a fresh machine: set up (lavapipe, packages, the built-in
# small dataset), train the nano preset, evaluate it against its baselines, and caption three
# held-out pictures (concepts never seen in training), with a picture of where it looked, then
# caption them again with the built-in model.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
bash scripts/setup.sh
RUN="${1:-runs/demo-$(date +%Y%m%d-%H%M%S)}"
STEPS="${COCA_DEMO_STEPS:-300}"
node bin/coca.js train --preset nano --steps "$STEPS" --out "$RUN"
node bin/coca.js eval "$RUN" --max-items 300 --json "$RUN/eval.json" --captions "$RUN/eval-captions"
node bin/coca.js data export --split test-concept --count 3 --out "$RUN/held-out"
node bin/coca.js caption --checkpoint "$RUN" --attention "$RUN/attention.png" "$RUN"/held-out/*.png
# The same pictures captioned by the built-in model (models/builtin: tiny, trained longer on the full set).
if [ -f models/builtin/model.safetensors ]; then
  echo "the built-in model on the same pictures:"
  node bin/coca.js caption --checkpoint models/builtin "$RUN"/held-out/*.png
fi
echo "run folder: $RUN (report.html, eval.json, eval-captions/captions.html, attention.png, checkpoints/)"
