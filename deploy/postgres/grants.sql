-- What the service's role may do with the ledger's tables. Run by the owner role after every
-- `ledger migrate` (compose: the one-shot `grants` service), so that tables a migration adds
-- are covered too. Idempotent: it states the whole grant each time.
--
--   psql -v ON_ERROR_STOP=1 -v app=ledger_app -v schema=ledger -f grants.sql

-- Projections, counters, consumer offsets, the outbox: read and write (never TRUNCATE:
-- `ledger projections rebuild` runs as the owner). Sequences: the log's `currval`.
GRANT USAGE ON SCHEMA :"schema" TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"app";

-- The event log: read and append, nothing else. Its triggers refuse UPDATE, DELETE and
-- TRUNCATE to every role; the app is refused before they fire, and as it owns nothing it
-- cannot drop or disable them.
REVOKE ALL ON TABLE :"schema".events FROM PUBLIC, :"app";
GRANT SELECT, INSERT ON TABLE :"schema".events TO :"app";

-- Which migrations ran is the owner's record: the app only reads it (readiness, schema check).
REVOKE ALL ON TABLE :"schema".schema_migrations FROM PUBLIC, :"app";
GRANT SELECT ON TABLE :"schema".schema_migrations TO :"app";
