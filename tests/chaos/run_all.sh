#!/usr/bin/env bash
# `make chaos` (`make chaos-quick`: every run short): the long runs of the execution worker —
# kills, faults, DB outage, kills during an outage, interleavings, the incidents — each
# checking the invariant after every loop and the books both ways; one table at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
export PYTHONPATH=.
exec $PY tests/chaos/suite.py "$@"
