#!/usr/bin/env bash
# A pg_dump of the app's database (custom format: compressed, restorable table by table) into
# BACKUP_DIR as <database>-<UTC time>.dump; dumps older than BACKUP_KEEP_DAYS are deleted.
# The connection comes from libpq's variables: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
#
#   deploy/backup.sh            one dump now; prints its path
#   deploy/backup.sh --daily    one dump every day at BACKUP_AT (HH:MM, the TZ's local time):
#                               the compose `backup` service runs this
set -euo pipefail

BACKUP_DIR=${BACKUP_DIR:-./backups}
BACKUP_KEEP_DAYS=${BACKUP_KEEP_DAYS:-14}
: "${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER, PGPASSWORD) to the database to dump}"

dump_once() {
    mkdir -p "$BACKUP_DIR"
    local name partial
    name="$PGDATABASE-$(date -u +%Y%m%dT%H%M%SZ).dump"
    # Written under a temporary name first, so a dump cut short never looks like a good one.
    partial="$BACKUP_DIR/.$name.partial"
    pg_dump --format=custom --file="$partial"
    mv "$partial" "$BACKUP_DIR/$name"
    find "$BACKUP_DIR" -maxdepth 1 -name "$PGDATABASE-*.dump" -mtime +"$BACKUP_KEEP_DAYS" -delete
    echo "$BACKUP_DIR/$name"
}

if [ "${1:-}" = "--daily" ]; then
    at=${BACKUP_AT:-03:15}
    while true; do
        now=$(date +%s)
        next=$(date -d "today $at" +%s)
        if [ "$next" -le "$now" ]; then next=$(date -d "tomorrow $at" +%s); fi
        echo "next backup at $(date -d "@$next")"
        sleep $((next - now))
        # A failed night is logged and retried the next night, not the end of the schedule.
        dump_once || echo "backup failed at $(date)" >&2
    done
else
    dump_once
fi
