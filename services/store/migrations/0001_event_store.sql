-- The append-only event log. Every fact the ledger knows is a row here; every other
-- table is a projection that can be dropped and rebuilt from it.
CREATE TABLE events (
    position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream       text        NOT NULL,
    version      integer     NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    org          text,
    payload      jsonb       NOT NULL,
    body_hash    bytea       NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Writer's transaction id: readers by position only trust rows below the oldest
    -- open transaction (positions commit out of order under concurrent writers).
    xact_id      xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version)
);

CREATE INDEX events_type_position_idx ON events (event_type, position);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only_rows
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_append_only_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Kafka positions the ingest has durably applied, written in the same transaction as
-- the events: the source of truth for where a consumer resumes (Kafka commits are only
-- informative).
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
