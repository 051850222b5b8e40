#!/usr/bin/env bash
# Restore a chipreg backup made by backup.sh into an EMPTY database, put the
# keys back, then prove the log is intact (every leaf, node and checkpoint).
#   deploy/restore.sh /backups/chipreg-2026-11-26
set -euo pipefail
src=${1:?usage: restore.sh BACKUP_DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
var=${CHIPREG_VAR_DIR:-var}
log_key=${CHIPREG_LOG_KEY_PATH:-$var/log-key.pem}
webhook_key=${CHIPREG_WEBHOOK_KEY_PATH:-$var/webhook-key.pem}
( cd "$src" && sha256sum --check --quiet SHA256SUMS )
if [ -e "$log_key" ]; then
    echo "refusing: $log_key exists; restore onto a clean host" >&2
    exit 1
fi
pg_restore --no-owner --exit-on-error --dbname "$DATABASE_URL" "$src/chipreg.dump"
mkdir -p "$(dirname "$log_key")"
install -m 600 "$src/log-key.pem" "$log_key"
[ -f "$src/webhook-key.pem" ] && install -m 600 "$src/webhook-key.pem" "$webhook_key"
PY=${PY:-.venv/bin/python}
"$PY" manage.py migrate --noinput
"$PY" manage.py verify_log
echo "restored from $src; the log verifies against its key"
