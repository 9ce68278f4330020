#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready for coca: a WebGPU adapter (Mesa lavapipe from
# bookworm-backports; the stock bookworm lavapipe is too old for Dawn), OpenBLAS-backed numpy
# for the BLAS column of `coca bench` (with --reference also Debian's python3-torch for the PyTorch
# column of `coca bench step`), then `npm ci`. Idempotent: each step is skipped where
# what it provides is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

have_vulkan_lavapipe() {
  # lavapipe's ICD manifest plus a Mesa new enough (>= 24) for Dawn.
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24 && dpkg-query -W libvulkan1 >/dev/null 2>&1
}

apt_updated=0
apt_update() { if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi; }

if [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then
  if ! have_vulkan_lavapipe && ! command -v nvidia-smi >/dev/null; then
    echo "setup: installing Mesa lavapipe (software Vulkan) from bookworm-backports"
    src=/etc/apt/sources.list.d/debian.sources
    if [ -f "$src" ] && ! grep -q bookworm-backports "$src"; then
      # deb822: add backports to the first Suites line (the main archive's stanza).
      $SUDO sed -i '0,/^Suites: bookworm bookworm-updates$/s//Suites: bookworm bookworm-updates bookworm-backports/' "$src"
    fi
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
    fi
    apt_update
    $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  # BLAS reference for benchmarks (not needed by tests; failure here is not fatal).
  if ! python3 -c 'import numpy' 2>/dev/null || ! dpkg-query -W libopenblas0-pthread >/dev/null 2>&1; then
    echo "setup: installing python3-numpy + OpenBLAS (BLAS column of coca bench)"
    apt_update
    $SUDO apt-get install -y -qq python3-numpy libopenblas0-pthread >/dev/null || echo "setup: numpy/OpenBLAS not installed; coca bench will skip the BLAS column"
  fi
  # Debian's PyTorch for the PyTorch column of `coca bench step` (and the reference scripts):
  # on request, it is large. Without it the bench skips that column with "No module named torch".
  # What transformers' generation code imports beside torch (scripts/reference/openclip_beam.py,
  # open_clip's beam search, with transformers' source given by COCA_TRANSFORMERS_SRC).
  if [ "${1:-}" = "--reference" ] && ! python3 -c 'import torch, tqdm, packaging, filelock' 2>/dev/null; then
    echo "setup: installing Debian's python3-torch (PyTorch column of coca bench step) and what the reference scripts import"
    apt_update
    $SUDO apt-get install -y -qq python3-torch python3-tqdm python3-packaging python3-filelock >/dev/null
  fi
  # Debian's Chromium for the browser tests (npm run test:e2e: `coca serve`'s page; npm run
  # test:browser: the kernels on its bundled SwiftShader WebGPU): CI, or on request.
  if { [ -n "${CI:-}" ] || [ "${1:-}" = "--e2e" ]; } && [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing Debian's chromium (browser tests)"
    apt_update
    $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

echo "setup: checking for a WebGPU adapter"
node bin/coca.js info --brief

# The built-in small dataset (tests and the README demo): fetched and built once, ~30 s.
node bin/coca.js data build --small --if-missing
