#!/usr/bin/env bash
# Sustained socket ingest into `tokenmill serve` for >= 60 s, compared with
# `tokenmill build` on the same batches in the same run (serve_bench.py).
#   tests/bench/serve/run.sh [BUILD_DIR=build] [CORPUS=../shared/corpora] [DURATION=60] [CONNS=4]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
CORPUS=${CORPUS:-$root/../shared/corpora}
work=${WORK:-$(mktemp -d /tmp/tm_bench_serve.XXXXXX)}
exec /usr/bin/python3 "$here/serve_bench.py" "$BUILD_DIR/pipeline/tokenmill" "$CORPUS" "$work" "${DURATION:-60}" "${CONNS:-4}"
