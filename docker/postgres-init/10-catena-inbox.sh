#!/usr/bin/env bash
# Runs once, when the postgres volume is first initialised: the Catena inbox gets a database and a role
# of its own, separate from Airflow's metadata database (Airflow never reads it; the project does).
set -euo pipefail
: "${CATENA_INBOX_PASSWORD:?CATENA_INBOX_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v inbox_password="$CATENA_INBOX_PASSWORD" <<'SQL'
CREATE ROLE catena LOGIN PASSWORD :'inbox_password';
CREATE DATABASE catena_inbox OWNER catena;
SQL
