#!/bin/sh
# PostgreSQL container start-up hook (mounted into /docker-entrypoint-initdb.d): runs once,
# when the data directory is empty, as the superuser, against POSTGRES_DB. Creates the
# ledger's roles and schema (roles.sql); the passwords come from the compose env file.
set -e
: "${DB_OWNER_PASSWORD:?DB_OWNER_PASSWORD is not set}"
: "${DB_APP_PASSWORD:?DB_APP_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner=ledger_owner -v app=ledger_app -v schema=ledger \
    -v owner_password="$DB_OWNER_PASSWORD" -v app_password="$DB_APP_PASSWORD" \
    -f /etc/ledger/postgres/roles.sql
