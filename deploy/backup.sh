#!/bin/sh
# Nightly logical backup of the insurebot PostgreSQL database (run by insurebot-backup.service).
# usage: backup.sh DIR DAYS_TO_KEEP     (DATABASE_URL from the environment)
# The dump holds personal data (Rasa tracker events are in clear): keep DIR readable by the service
# user only, copy it off the host encrypted, and keep it no longer than the retention period.
set -eu
dir="${1:?backup directory}"
keep="${2:-14}"
: "${DATABASE_URL:?DATABASE_URL not set}"
umask 077
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp="$dir/.insurebot-$stamp.dump.partial"
pg_dump --format=custom --no-owner --dbname="$DATABASE_URL" --file="$tmp"
mv "$tmp" "$dir/insurebot-$stamp.dump"
find "$dir" -name 'insurebot-*.dump' -type f -mtime +"$keep" -delete
echo "backup written: $dir/insurebot-$stamp.dump"
