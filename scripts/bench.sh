#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures and appending them to benchmarks/RESULTS.md.
# One only: scripts/bench.sh ingest|wake|scale|demo|receiver|roundtrips|sandbox|profile|ingest_load [its own options...]
#   ingest    webhooks into the receiver inside `airflow api-server` vs a no-op route (SQLite, PostgreSQL)
#   wake      202 -> trigger event -> next task on `airflow standalone`, 50 fleets
#   scale     1,000 waits deferred in one triggerer, inbox queries per poll, a burst of webhooks
#   demo      `make demo`'s wall time and peak memory
#   receiver  the receiver as its own process vs a no-op (benchmarks/receiver_load.py)
#   roundtrips the inbox writer on PostgreSQL, direct and through a relay adding a round-trip delay
#   sandbox   the sandbox's webhook delivery rate (benchmarks/sandbox_delivery.py)
#   profile   the ingest benchmark plus a py-spy profile of the receiver (benchmarks/PROFILE.md)
#   ingest_load  1,000,000 vehicle locations of 50 sandbox fleets loaded by dlt into DuckDB and PostgreSQL vs fetch only
# Needs PostgreSQL on 127.0.0.1:5432 (CATENA_TEST_POSTGRES_URL to change it) and a free CPU: the
# figures are only comparable within one run (each benchmark measures its own baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"  # airflow standalone starts its components as `airflow ...`
PY=.venv/bin/python

run() {
  local name="$1"
  shift
  echo "=== benchmark: $name ($(date -u +%H:%M:%S) UTC) ==="
  case "$name" in
    ingest) "$PY" benchmarks/ingest_api_server.py "$@" ;;
    profile) "$PY" benchmarks/ingest_api_server.py --profile "$@" ;;
    wake) "$PY" benchmarks/wake_standalone.py "$@" ;;
    scale) "$PY" benchmarks/scale_triggerer.py "$@" ;;
    demo) "$PY" benchmarks/demo_e2e.py "$@" ;;
    receiver) "$PY" benchmarks/receiver_load.py "$@" ;;
    roundtrips) "$PY" benchmarks/inbox_round_trips.py "$@" ;;
    sandbox) "$PY" benchmarks/sandbox_delivery.py "$@" ;;
    ingest_load) "$PY" benchmarks/ingest_load.py "$@" ;;
    *)
      echo "unknown benchmark '$name': ingest|wake|scale|demo|receiver|roundtrips|sandbox|profile|ingest_load" >&2
      exit 2
      ;;
  esac
}

if [ $# -gt 0 ]; then
  run "$@"
else
  for name in receiver roundtrips sandbox ingest_load ingest wake scale demo; do
    run "$name"
  done
fi
