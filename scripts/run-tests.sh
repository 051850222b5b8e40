#!/usr/bin/env bash
# The whole test suite, against PostgreSQL and Redis when they are up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
# Requests run tasks in-process unless a test starts a real worker itself.
export CELERY_TASK_ALWAYS_EAGER=1
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
if [ "$CHIPREG_SERVICES" = fallback ]; then
    echo "chipreg: reminder: this run used the SQLite fallback; services-only tests were skipped." >&2
fi
exit $rc
