# Sourced by the test and bench scripts: point chipreg at the local PostgreSQL
# and Redis when they answer; otherwise say so loudly, and fail when
# CHIPREG_REQUIRE_SERVICES=1 (CI sets it).
PY=${PY:-.venv/bin/python}
: "${CHIPREG_TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/chipreg}"
: "${CHIPREG_TEST_REDIS_URL:=redis://127.0.0.1:6379/0}"

services_ok=1
if ! "$PY" - "$CHIPREG_TEST_DATABASE_URL" <<'PYEOF'
import sys, psycopg
url = sys.argv[1].rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
then services_ok=0; fi
if ! "$PY" - "$CHIPREG_TEST_REDIS_URL" <<'PYEOF'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"Redis unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
then services_ok=0; fi

if [ "$services_ok" = 1 ]; then
    export DATABASE_URL="${DATABASE_URL:-$CHIPREG_TEST_DATABASE_URL}"
    export REDIS_URL="${REDIS_URL:-$CHIPREG_TEST_REDIS_URL}"
    export CHIPREG_SERVICES=real
    echo "chipreg: using PostgreSQL ($DATABASE_URL) and Redis ($REDIS_URL)"
else
    if [ "${CHIPREG_REQUIRE_SERVICES:-0}" = 1 ]; then
        echo "chipreg: PostgreSQL and Redis are required (CHIPREG_REQUIRE_SERVICES=1) but not reachable." >&2
        exit 1
    fi
    unset DATABASE_URL REDIS_URL
    export CHIPREG_SERVICES=fallback
    cat >&2 <<'BANNER'
########################################################################
#  WARNING: PostgreSQL and/or Redis are NOT reachable.                 #
#  Falling back to SQLite and in-process Celery. Tests that need the   #
#  real services are SKIPPED. This is NOT a full run of the suite.     #
########################################################################
BANNER
fi
