# Shared by the experiment scripts: the budget every run gets (override through the environment)
# and the step that trains a run unless it is trained, evaluates it unless it is evaluated, and
# records its wall time, so an interrupted experiment picks up where it stopped.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PRESET="${PRESET:-nano}"
DATA="${DATA:-builtin-small}"
STEPS="${STEPS:-600}"
BATCH="${BATCH:-32}"
SEEDS="${SEEDS:-1 2 3}"
MAX_ITEMS="${MAX_ITEMS:-300}"

# train_and_eval ROOT RUN TRAIN_COMMAND...
train_and_eval() {
  local root="$1" run="$2"
  shift 2
  if [[ -f "$run/eval.json" ]]; then echo "skip $run (evaluated)"; return; fi
  local start
  start=$(date +%s)
  if [[ -f "$run/checkpoints/last/model.safetensors" ]]; then
    echo "reuse $run (trained)"
  else
    rm -rf "$run"
    "$@"
  fi
  node bin/coca.js eval "$run" --data "$DATA" --max-items "$MAX_ITEMS" --json "$run/eval.json"
  echo "$run: $(( $(date +%s) - start )) s" | tee -a "$root/times.txt"
}
