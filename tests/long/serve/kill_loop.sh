#!/usr/bin/env bash
# tokenmill serve under SIGKILL, the long version: KILLS (default 25) random
# kills during a continuous socket + spool feed; every acknowledged document
# must end up in exactly one shard. Run by hand from a build directory:
#   TOKENMILL=build/pipeline/tokenmill TM_SOURCE_DIR=. tests/long/serve/kill_loop.sh [KILLS]
set -euo pipefail
: "${TOKENMILL:?}" "${TM_SOURCE_DIR:?}"
export PYTHON=${PYTHON:-/usr/bin/python3}
exec "$PYTHON" "$TM_SOURCE_DIR/tests/serve/test_serve_kill.py" "${1:-${KILLS:-25}}"
