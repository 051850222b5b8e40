#!/usr/bin/env bash
# Install chipreg on one host under systemd, from this checkout.
#
#   sudo deploy/install-systemd.sh            # then edit /etc/chipreg/chipreg.env if it was new, and rerun
#
# What it does, in order (each step is safe to repeat):
#   1. a system user `chipreg` (SERVICE_USER) unless it exists;
#   2. a copy of this checkout in /opt/chipreg (PREFIX) with its own virtualenv;
#   3. /etc/chipreg/chipreg.env (ETC_DIR) from deploy/env.example with fresh
#      SECRET_KEY and TOKEN_HASH_KEY, if there is none yet (mode 0600);
#   4. /var/lib/chipreg (VAR_DIR): migrate, the accelerator catalog, the log
#      signing key (created once: back it up, see deploy/backup.sh), static files;
#   5. the units in /etc/systemd/system (SYSTEMD_DIR), rewritten to these paths,
#      then `systemctl enable --now` web, a worker per queue, and beat
#      (NO_SYSTEMCTL=1 skips this last step).
# PostgreSQL and Redis must be running and named in the environment file.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/chipreg}"
ETC_DIR="${ETC_DIR:-/etc/chipreg}"
VAR_DIR="${VAR_DIR:-/var/lib/chipreg}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
SERVICE_USER="${SERVICE_USER:-chipreg}"
PYTHON="${PYTHON:-python3}"
QUEUES="ingest evaluate notify"

say() { printf 'install-systemd: %s\n' "$*"; }

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating the system user $SERVICE_USER"
    useradd --system --home-dir "$VAR_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
fi
SERVICE_GROUP="$(id -gn "$SERVICE_USER")"

say "copying $SRC to $PREFIX"
mkdir -p "$PREFIX"
tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude='*/__pycache__' --exclude=./staticfiles \
    --exclude=./test-artifacts -cf - . | tar -C "$PREFIX" -xf -
if [ ! -x "$PREFIX/.venv/bin/python" ]; then
    say "creating the virtualenv"
    "$PYTHON" -m venv "$PREFIX/.venv"
fi
"$PREFIX/.venv/bin/python" -m pip install --quiet -c "$PREFIX/constraints.txt" -r "$PREFIX/requirements.txt"
"$PREFIX/.venv/bin/python" -m pip install --quiet --no-deps "$PREFIX"

mkdir -p "$ETC_DIR" "$VAR_DIR"
ENV_FILE="$ETC_DIR/chipreg.env"
if [ ! -f "$ENV_FILE" ]; then
    say "writing $ENV_FILE with fresh keys: edit DATABASE_URL, ALLOWED_HOSTS and the rest"
    secret() { "$PREFIX/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))'; }
    umask 077
    sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$(secret)|" \
        -e "s|^TOKEN_HASH_KEY=.*|TOKEN_HASH_KEY=$(secret)|" \
        -e "s|/var/lib/chipreg|$VAR_DIR|g" \
        "$SRC/deploy/env.example" >"$ENV_FILE"
    umask 022
fi
chown -R "$SERVICE_USER:$SERVICE_GROUP" "$VAR_DIR"
chmod 0600 "$ENV_FILE"

say "migrating, loading the catalog, the log key and the static files"
(
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
    cd "$PREFIX"
    manage() { "$PREFIX/.venv/bin/python" manage.py "$@"; }
    manage migrate --noinput
    manage load_catalog
    manage init_log_key
    manage collectstatic --noinput --verbosity 0
    manage check --deploy --fail-level WARNING
)
chown -R "$SERVICE_USER:$SERVICE_GROUP" "$VAR_DIR"

say "installing the units in $SYSTEMD_DIR"
mkdir -p "$SYSTEMD_DIR"
for unit in "$SRC"/deploy/systemd/*.service; do
    sed -e "s|/opt/chipreg|$PREFIX|g" -e "s|/etc/chipreg|$ETC_DIR|g" -e "s|/var/lib/chipreg|$VAR_DIR|g" \
        -e "s|^User=.*|User=$SERVICE_USER|" -e "s|^Group=.*|Group=$SERVICE_GROUP|" \
        "$unit" >"$SYSTEMD_DIR/$(basename "$unit")"
done

if [ "${NO_SYSTEMCTL:-0}" = 1 ]; then
    say "NO_SYSTEMCTL=1: units installed, not started"
    exit 0
fi
systemctl daemon-reload
units="chipreg-web chipreg-beat"
for q in $QUEUES; do units="$units chipreg-worker@$q"; done
# shellcheck disable=SC2086
systemctl enable --now $units
say "started: $units"
