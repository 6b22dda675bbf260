#!/usr/bin/env bash
# Set up (idempotent) and run the main job: the staircase demo (default init
# versus SFLI on the paper's 1-D multi-frequency fit), written to ./out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m bridge.demo --out out "$@"
