#!/usr/bin/env bash
# Make sure a PostgreSQL server runs on 127.0.0.1:5432 with a `moot_test` role and database,
# installing and starting it when the machine has none. Prints the SQLAlchemy URL.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

URL="postgresql+psycopg://moot_test:moot_test@127.0.0.1:5432/moot_test"

as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

if ! command -v pg_lsclusters >/dev/null; then
    bootstrap_apt postgresql
fi
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    say "creating a PostgreSQL $version cluster"
    pg_createcluster "$version" main >/dev/null
fi
read -r ver cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "$status" != "online" ]; then
    say "starting PostgreSQL $ver/$cluster"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start
fi
for _ in $(seq 1 50); do
    as_postgres "psql -p $port -qtAc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.2
done
as_postgres "psql -p $port -qtAc \"select 1 from pg_roles where rolname='moot_test'\"" | grep -q 1 \
    || as_postgres "psql -p $port -qc \"create role moot_test login password 'moot_test' createdb\""
as_postgres "psql -p $port -qtAc \"select 1 from pg_database where datname='moot_test'\"" | grep -q 1 \
    || as_postgres "psql -p $port -qc 'create database moot_test owner moot_test'"
echo "$URL"
