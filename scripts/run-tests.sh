#!/usr/bin/env bash
# The whole test suite on PostgreSQL (the local one, or else an embedded one) and on Redis when it is up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
# Requests run tasks in-process unless a test starts a real worker itself.
export CELERY_TASK_ALWAYS_EAGER=1
# The suite sends thousands of requests from one address; the rate-limit test sets its own.
export CHIPREG_RATE_PER_ADDRESS="${CHIPREG_RATE_PER_ADDRESS:-1000000/min}"
export CHIPREG_RATE_PER_TOKEN="${CHIPREG_RATE_PER_TOKEN:-1000000/min}"
# One test database per run, so concurrent runs on one server do not collide.
export CHIPREG_TEST_DB_NAME="${CHIPREG_TEST_DB_NAME:-test_chipreg_$$}"
# And its own cache keys on a shared Redis (rate-limit counters).
export CHIPREG_CACHE_KEY_PREFIX="${CHIPREG_CACHE_KEY_PREFIX:-$CHIPREG_TEST_DB_NAME}"
# One worker process per CPU (pytest-xdist); each is a run of its own: its own test database (pytest-django
# adds _gw0, _gw1... to the name) and its own cache keys (conftest.py). CHIPREG_TEST_WORKERS=0 runs the
# tests in this process, as does `-n 0` among the arguments.
set +e
"$PY" -m pytest -n "${CHIPREG_TEST_WORKERS:-auto}" "$@"
rc=$?
set -e
if [ -z "${REDIS_URL:-}" ]; then
    echo "chipreg: reminder: this run had no Redis; the tests that need it were skipped." >&2
fi
exit $rc
