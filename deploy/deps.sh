#!/usr/bin/env bash
# Installs the Debian packages tokenmill needs to build, test and benchmark.
# Only what is missing is installed; needs root (or sudo) for apt-get.
# Usage: deploy/deps.sh [--with-test]   (--with-test adds the test-only tools)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ninja-build
  libuv1-dev          # event loop of the serve daemon
  libzstd-dev zstd    # shard compression, .zst input
  libxxhash-dev       # XXH3 hashes: checksums, dedup keys, tokenizer hash
  libutf8proc-dev     # Unicode normalisation and categories
  libopenblas-dev     # sgemm for the trainer
  libopenblas0-openmp # the trainer links the OpenMP build (one thread pool, trainer/README.md)
  libjansson-dev      # JSON (JSONL input, manifest, tokenizer.json)
  libgumbo-dev        # HTML parsing (fallback)
  libmodest-dev       # myhtml: the faster HTML parser the clean stage uses when present
  libinih-dev         # INI configuration
  zlib1g-dev          # gzip input
  libcld2-dev         # language identification
  libhttp-parser-dev  # HTTP request parsing in the daemon
  libgmime-3.0-dev    # MIME e-mail parsing
  libpcre2-dev        # reference regex for pre-tokenizer tests
)
test_pkgs=(
  libcmocka-dev clang libclang-rt-dev valgrind python3 python3-numpy python3-zstandard python3-xxhash
  chromium            # tests/serve: the status page rendered headless (test_serve_page.py)
  libopenmpi-dev openmpi-bin # tests/trainer: mpirun -np 2 data-parallel training
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--with-test" ]; then
  pkgs+=("${test_pkgs[@]}")
  # Node.js runs the HuggingFace tokenizers compatibility test. A machine may
  # already have a Node.js from elsewhere that bundles npm (and conflicts with
  # Debian's npm package): use it when present.
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
