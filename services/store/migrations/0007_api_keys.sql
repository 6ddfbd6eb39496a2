-- API keys of the HTTP API (a projection of api_key.created / api_key.revoked events, so a
-- rebuild restores them). Only the SHA-256 of a token is kept: the token itself is shown
-- once, when the key is created. Every request looks its token's hash up here (the unique
-- index), so a revocation holds at once in every server sharing the database.
CREATE TABLE api_keys (
    name           text        PRIMARY KEY,
    role           text        NOT NULL CHECK (role IN ('viewer', 'operator')),
    token_hash     text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    event_position bigint      NOT NULL
);
