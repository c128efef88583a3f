#!/bin/sh
# Run once by the official image on a new primary (docker-entrypoint-initdb.d): lets the `cluster` profile's
# replica stream the WAL as the patroli user, with its password.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
