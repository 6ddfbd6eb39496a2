-- The ledger's two database roles and its schema. Run once, by a superuser, connected to the
-- ledger's (empty) database: compose runs it from init-roles.sh when PostgreSQL first starts.
--
--   psql -v ON_ERROR_STOP=1 -v owner=ledger_owner -v app=ledger_app -v schema=ledger \
--        -v owner_password=... -v app_password=... -f roles.sql
--
-- owner: owns the schema and everything the migrations create in it. `ledger migrate`,
--        grants.sql and `ledger projections rebuild` run as it. Only an owner may alter or
--        drop a table, or drop or disable its triggers.
-- app:   what `ledger serve` (and every other command) runs as. It reads and appends the
--        event log, reads and writes the projections, counters and outbox, and creates
--        temporary tables; it cannot update, delete or truncate the log, alter or drop any
--        table or trigger, or create anything in the schema. What it may do with each table
--        is set by grants.sql, after every migration.

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';

-- Only these two roles connect, and nobody creates anything outside the ledger's schema.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO :"owner", :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The app may look the schema up (USAGE) but not create in it (no CREATE).
CREATE SCHEMA :"schema" AUTHORIZATION :"owner";
GRANT USAGE ON SCHEMA :"schema" TO :"app";
ALTER ROLE :"owner" IN DATABASE :"DBNAME" SET search_path = :"schema";
ALTER ROLE :"app" IN DATABASE :"DBNAME" SET search_path = :"schema";
