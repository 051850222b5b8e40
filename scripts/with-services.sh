#!/usr/bin/env bash
# Run a command with DATABASE_URL/REDIS_URL pointing at the local services (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
# Not exec: an embedded PostgreSQL started by services.sh is stopped when this shell exits.
"$@"
