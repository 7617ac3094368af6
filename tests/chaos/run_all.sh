#!/usr/bin/env bash
# `make chaos`: the long runs of the execution worker (kills, faults, DB outage, kills during an outage).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
export PYTHONPATH=.
$PY tests/chaos/kill_run.py "${KILLS:-100}"
$PY tests/chaos/faults_run.py "${ITERATIONS:-5000}"
$PY tests/chaos/db_outage_run.py
$PY tests/chaos/outage_kill_run.py "${OUTAGE_KILLS:-10}" "${OUTAGE_S:-60}"
$PY tests/chaos/interleavings_run.py "${INTERLEAVINGS:-1000}" "${LOOPS_PER_INTERLEAVING:-30}"
