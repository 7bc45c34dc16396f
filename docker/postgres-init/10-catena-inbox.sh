#!/usr/bin/env bash
# Runs once, when the postgres volume is first initialised: the Catena inbox (which holds the operations state
# too) and the warehouse of fleet data get databases and a role of their own, separate from Airflow's metadata
# database.
set -euo pipefail
: "${CATENA_INBOX_PASSWORD:?CATENA_INBOX_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v inbox_password="$CATENA_INBOX_PASSWORD" <<'SQL'
CREATE ROLE catena LOGIN PASSWORD :'inbox_password';
CREATE DATABASE catena_inbox OWNER catena;
CREATE DATABASE catena_warehouse OWNER catena;
SQL
