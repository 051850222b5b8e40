#!/usr/bin/env bash
# Back up chipreg: the database (pg_dump custom format) AND the log and
# webhook keys. Without the log key the log cannot be continued: a restored
# database with a new key would be a different log.
#   deploy/backup.sh /backups/chipreg-$(date +%F)
set -euo pipefail
dest=${1:?usage: backup.sh DEST_DIR}
: "${DATABASE_URL:?set DATABASE_URL}"
var=${CHIPREG_VAR_DIR:-var}
log_key=${CHIPREG_LOG_KEY_PATH:-$var/log-key.pem}
webhook_key=${CHIPREG_WEBHOOK_KEY_PATH:-$var/webhook-key.pem}
umask 077
mkdir -p "$dest"
pg_dump --format=custom --no-owner --file "$dest/chipreg.dump" "$DATABASE_URL"
cp -p "$log_key" "$dest/log-key.pem"
[ -f "$webhook_key" ] && cp -p "$webhook_key" "$dest/webhook-key.pem"
( cd "$dest" && sha256sum chipreg.dump ./*.pem > SHA256SUMS )
echo "backup written to $dest (keep it as secret as the keys it holds)"
