#!/usr/bin/env bash
# Idempotent set-up into the current Python environment.
# - torch: an existing installation (e.g. a user's CUDA build) is kept as it is;
#   only when none is importable is torch==2.13.0 installed, which on the
#   project's machines resolves to a local CPU wheel (no CUDA download).
# - rankcore and bridge: editable install with the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] torch not found: installing torch==2.13.0"
    "$PY" -m pip install --quiet "torch==2.13.0"
else
    echo "[setup] using installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
fi
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test]"
