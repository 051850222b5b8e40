#!/usr/bin/env bash
# Run a command with a PostgreSQL: the one DATABASE_URL names, or else an embedded one whose data
# lives in var/pg (created on first use, kept between runs, stopped when the command ends).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ -n "${DATABASE_URL:-}" ]; then
    exec "$@"
fi
mkdir -p var
exec "$PY" scripts/embedded_pg.py run --data var/pg -- "$@"
