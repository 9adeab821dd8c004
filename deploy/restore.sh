#!/usr/bin/env bash
# Restore a deploy/backup.sh dump into a new database, created here. An existing database is
# refused, so a typo cannot overwrite live data (README "Backup and restore" shows how to
# swap the restored database in). The connection comes from PGHOST, PGPORT, PGUSER, PGPASSWORD.
#
#   deploy/restore.sh FILE.dump [DATABASE]      DATABASE defaults to $PGDATABASE
set -euo pipefail

dump=${1:?usage: deploy/restore.sh FILE.dump [DATABASE]}
target=${2:-${PGDATABASE:?name the database to create, or set PGDATABASE}}

# The archive must be complete and readable before anything is created.
pg_restore --list "$dump" >/dev/null
createdb "$target"
# One transaction: a restore that fails halfway leaves an empty database, not half the rows.
pg_restore --dbname="$target" --no-owner --exit-on-error --single-transaction "$dump"
echo "Restored $dump into database $target."
