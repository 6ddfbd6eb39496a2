-- The month-end console's own state (services/console): not ledger data, not in the log.
--
-- console_secret: the key that signs session cookies and CSRF tokens when
-- LEDGER_CONSOLE_SECRET is unset. Created once by the first server that needs it and shared
-- by every server on this database, so a session signed by one is honoured by all.
CREATE TABLE console_secret (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Ids that may not be used again until they expire: each CSRF token once used (a replayed
-- form post is refused), each session once signed out (its cookie stops working). Kept here
-- so that every server sees them; rows past expires_at are deleted as new ones arrive.
CREATE TABLE console_spent_ids (
    id         text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_spent_ids_expires_idx ON console_spent_ids (expires_at);
