#!/usr/bin/env bash
# The GPU run kit's one command (packed by scripts/gpu/pack.sh, described in docs/gpu-kit.md).
# On a bare x86-64 Linux machine with a GPU driver (no network, no Node, no Vulkan loader needed):
# unpacks the kit, prints the adapter, runs coca's kernel and model-parity suites on the GPU,
# `coca bench matmul|attention|step|decode` at GPU sizes, the same work in PyTorch on the same
# device, and writes everything printed plus one JSON of all figures to $OUT.
#
#   bash gpu-kit/check.sh [--out DIR] [--work DIR] [--budget SECONDS] [--small] [--no-torch]
#
#   --out      where check.log, tests.log and figures.json go [default: $OUT, else ./coca-gpu-out]
#   --work     where the kit is unpacked [default: a new temporary folder]
#   --budget   seconds for the whole run, unpacking included [default: 470, under 8 minutes; 1800
#              with --small]; each stage has its own limit as well, so a hang in one leaves the
#              others their figures
#   --small    sizes for a software adapter (lavapipe): matmul 256/512, attention L=128, step and
#              decode of nano, PyTorch on the CPU, the device, copy, matmul and parity suites only,
#              stage limits ×6 [default: GPU sizes, every kernel suite and parity]
#   --no-torch skip the PyTorch stages
set -uo pipefail

KIT=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${OUT:-$PWD/coca-gpu-out}
WORK=""
BUDGET=""
SMALL=0
TORCH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT_DIR=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --small) SMALL=1; shift ;;
    --no-torch) TORCH=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$BUDGET" ] || { [ $SMALL = 1 ] && BUDGET=1800 || BUDGET=470; }
FACTOR=1
[ $SMALL = 1 ] && FACTOR=6
case "$BUDGET" in ''|*[!0-9]*) echo "check.sh: --budget must be a whole number of seconds, not '$BUDGET'" >&2; exit 2 ;; esac
for f in node.xz coca.tar.xz; do
  [ -s "$KIT/$f" ] || { echo "check.sh: $KIT/$f is missing; pack the kit with scripts/gpu/pack.sh" >&2; exit 2; }
done
mkdir -p "$OUT_DIR"
[ -n "$WORK" ] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/coca-kit.XXXXXX")
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT_DIR=$(cd "$OUT_DIR" && pwd)
exec > >(tee -a "$OUT_DIR/check.log") 2>&1
T0=$(date +%s)
: >"$WORK/stages.tsv"

say() { printf '\n==== %s [%ss]\n' "$*" "$(( $(date +%s) - T0 ))"; }

# Runs one stage under its own limit, cut to what is left of the budget (RESERVE seconds are kept
# for the summary); records name, exit status and seconds in stages.tsv.
RESERVE=15
stage() {
  local name=$1 limit=$(( $2 * FACTOR ))
  shift 2
  local left=$(( BUDGET - RESERVE - ($(date +%s) - T0) ))
  if [ "$left" -lt 5 ]; then
    say "$name: skipped, the ${BUDGET}s budget is spent"
    printf '%s\tskip\t0\n' "$name" >>"$WORK/stages.tsv"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "$name (limit ${limit}s)"
  local s=$(date +%s)
  # Through bash -c so a stage may be one of the functions below (exported), killed with its
  # children: timeout signals its whole process group.
  timeout --kill-after=5 "$limit" bash -c '"$@"' "$name" "$@"
  local rc=$?
  local took=$(( $(date +%s) - s ))
  [ $rc = 124 ] || [ $rc = 137 ] && echo "check.sh: $name timed out after ${limit}s"
  [ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 137 ] && echo "check.sh: $name failed (exit $rc)"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$took" >>"$WORK/stages.tsv"
}

APP=$WORK/app
NODE=$WORK/bin/node
if [ $SMALL = 1 ]; then
  TESTS="test/gpu/device.test.js test/kernels/copy.test.js test/kernels/matmul.test.js test/model/parity.test.js"
  MATMUL=256,512; ATTN=1x2x128x64,1x2x128x128; STEP=nano; DECODE=nano; PRECISION=nano; TORCH_STEP=nano
  TORCH_ARGS="--device cpu --matmul 512 --attention $ATTN --runs 3"
else
  TESTS="test/gpu/*.test.js test/kernels/*.test.js test/model/parity.test.js"
  MATMUL=1024,2048,4096; ATTN=4x8x1024x64,4x8x1024x128,1x8x4096x64,1x8x4096x128; STEP=tiny,small,b32; DECODE=tiny,small; PRECISION=tiny,small; TORCH_STEP=tiny,small,b32
  TORCH_ARGS="--matmul 4096 --attention $ATTN"
fi

# ---- the stages' work (run through `stage`, so exported to its bash -c) ----------------------
# xz may be missing on a bare machine; python3's lzma is the fallback.
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
unpack() {
  mkdir -p "$WORK/bin"
  unxz_to "$KIT/node.xz" >"$NODE" && chmod +x "$NODE" && unxz_to "$KIT/coca.tar.xz" | tar -C "$WORK" -xf - || return 1
  cp "$KIT/kit.json" "$WORK/kit.json" 2>/dev/null
  "$NODE" --version
}
coca() { "$NODE" "$APP/bin/coca.js" "$@"; }
info() {
  coca info && coca info --json >"$WORK/info.json" || return 1
  coca info --kernels && coca info --kernels --json >"$WORK/kernels.json"
}
run_tests() {
  # One file per run of node --test, appended as it ends: a stage cut short by its limit still
  # leaves the files that finished (and their counts) in tests.log.
  local f rc=0
  cd "$APP" || return 1
  for f in $TESTS; do
    echo "-- $f" | tee -a "$WORK/tests.log"
    "$NODE" --test --test-reporter=spec "$f" >"$WORK/tests.part" 2>&1 || rc=1
    grep -v 'artificially reduced' "$WORK/tests.part" | tee -a "$WORK/tests.log"
  done
  return $rc
}
torch_eager() {
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' || return 3
  PYTHONUNBUFFERED=1 python3 "$APP/scripts/gpu/torch_bench.py" --json "$WORK/torch.json" --step $TORCH_STEP $TORCH_ARGS
}
torch_compile() {
  PYTHONUNBUFFERED=1 python3 "$APP/scripts/gpu/torch_bench.py" --json "$WORK/torch-compile.json" --compile --step tiny,small
}
export KIT WORK APP NODE TESTS TORCH_STEP TORCH_ARGS
export -f unxz_to unpack coca info run_tests torch_eager torch_compile

# ---- the run -----------------------------------------------------------------------------------
say "coca GPU check: kit $KIT, unpacking into $WORK, output in $OUT_DIR"
date -u
uname -a
cat "$KIT/kit.json" 2>/dev/null
stage unpack 90 unpack
[ -x "$NODE" ] && [ -f "$APP/bin/coca.js" ] || { echo "check.sh: unpacking failed; nothing else can run"; exit 1; }

# The kit's Vulkan loader and glvnd (NVIDIA's Vulkan driver, libGLX_nvidia, needs libGLdispatch),
# then the driver's own folders where a container mounts them outside the linker's path.
export PATH="$WORK/bin:$PATH"
export LD_LIBRARY_PATH="$APP/sys/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; done
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 &&
  [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export COCA_CACHE="$APP/cache"
# The subgroup-matrix (tensor core) adapter is opt-in for users; the kit is where it is measured.
export COCA_SUBGROUP_MATRIX=on
export MESA_SHADER_CACHE_DIR="$WORK/mesa-cache"
echo "node $("$NODE" --version); LD_LIBRARY_PATH=$LD_LIBRARY_PATH; VK_DRIVER_FILES=${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-(loader default)}}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv

stage info 60 info
stage tests 170 run_tests
stage bench-matmul 70 coca bench matmul --sizes $MATMUL --layout NN --runs 5 --no-blas --json "$WORK/bench-matmul.json"
stage bench-attention 70 coca bench attention --sizes $ATTN --runs 5 --json "$WORK/bench-attention.json"
stage bench-step 80 coca bench step --sizes $STEP --no-blas --json "$WORK/bench-step.json"
if [ $TORCH = 1 ] && command -v python3 >/dev/null; then
  stage torch 90 torch_eager
else
  if [ $TORCH = 1 ]; then say "torch: skipped (no python3 on the PATH)"; else say "torch: skipped (--no-torch)"; fi
  printf 'torch\tskip\t0\n' >>"$WORK/stages.tsv"
fi
stage bench-decode 45 coca bench decode --sizes $DECODE --json "$WORK/bench-decode.json"
# Mixed precision (--precision f16): a training step at f32 and at f16 side by side.
stage bench-precision 40 coca bench precision --sizes $PRECISION --no-blas --json "$WORK/bench-precision.json"
if [ $TORCH = 1 ] && [ $SMALL = 0 ] && [ -s "$WORK/torch.json" ]; then stage torch-compile 90 torch_compile; fi

say summary
cp "$WORK/tests.log" "$OUT_DIR/tests.log" 2>/dev/null
timeout 30 "$NODE" "$APP/scripts/gpu/summary.js" --dir "$WORK" --out "$OUT_DIR/figures.json"
say "done in $(( $(date +%s) - T0 ))s; $OUT_DIR holds check.log, tests.log, figures.json"
