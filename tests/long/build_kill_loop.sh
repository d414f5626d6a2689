#!/usr/bin/env bash
# The build's crash-safety test with many kills (CI runs 5):
#   tests/long/build_kill_loop.sh [KILLS=25] [BUILD_DIR=build]
# Each kill is a SIGKILL at a random moment within the duration of an
# uninterrupted build, followed by nothing: the next run resumes. At the end
# the shards must be byte-identical to the uninterrupted build's.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
KILLS=${1:-25} TOKENMILL=$PWD/$BUILD_DIR/pipeline/tokenmill TM_SOURCE_DIR=$PWD PYTHON=/usr/bin/python3 \
  bash tests/builder/test_build.sh
