#!/usr/bin/env bash
# Build and install ferrotypes, then run the guided tour in examples/showcase.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python}
bash scripts/build.sh
"$PYTHON" examples/showcase.py "$@"
