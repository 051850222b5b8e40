#!/usr/bin/env bash
# Run a command with DATABASE_URL/REDIS_URL pointing at the local services.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
exec "$@"
