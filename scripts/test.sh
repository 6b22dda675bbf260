#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, doctests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One BLAS thread unless the caller says otherwise: tests check numbers, not
# speed, and a single thread keeps BLAS reductions in a fixed order and avoids
# oversubscribing small shared machines (Numba kernels bring their own threads).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
exec "${PYTHON:-python3}" -m pytest "$@"
