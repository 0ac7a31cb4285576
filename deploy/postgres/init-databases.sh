#!/bin/sh
# PostgreSQL's entrypoint runs this once, on an empty data directory: one login role and
# one database per service, each role owning only its own database. Passwords come from
# <SERVICE>_DB_PASSWORD (e.g. ORDERS_DB_PASSWORD). Re-running it fails on the existing
# roles, which is what you want.
set -eu

for service in ${LIFELINE_DATABASES:-orders inventory routing}; do
    variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="$(printenv "$variable" || true)"
    if [ -z "$password" ]; then
        echo "init-databases: $variable is not set" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v name="$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "init-databases: database $service owned by role $service"
done
