-- Projection: every transaction line with its facts, as stored. Scope and period are
-- derived at query time from the settings and periods in force.
CREATE TABLE pending_transactions (
    type              text    NOT NULL,
    id                text    NOT NULL,
    subtype           text,
    org               text,
    date              date    NOT NULL,
    status            text    NOT NULL,
    amount            numeric NOT NULL,
    currency          text    NOT NULL,
    debit_account     text    NOT NULL,
    credit_account    text    NOT NULL,
    segments          jsonb   NOT NULL DEFAULT '{}'::jsonb,
    document_number   text    NOT NULL,
    account_number    text,
    accounting_period text,
    recognition_rule  text,
    event_position    bigint  NOT NULL,
    status_position   bigint,
    -- docs/domain.md §1 "What is never picked up"; mirrors events.exclusions.exclusion_reason
    -- (tests/integration/test_exclusion_sql.py keeps the two equal).
    exclusion_reason  text GENERATED ALWAYS AS (
        CASE
            WHEN (type LIKE '%\_application' OR type LIKE '%\_application\_item')
                 AND lower(btrim(subtype)) = 'reclassification'
                THEN 'reclassification'
            WHEN type = 'revenue_event_item'
                 AND lower(regexp_replace(btrim(recognition_rule), '\s+', ' ', 'g'))
                     = 'recognize upon invoicing'
                 AND (btrim(debit_account) = '' OR btrim(credit_account) = '')
                THEN 'revenue_upon_invoicing_blank_account'
            WHEN type = 'revenue_event_item'
                 AND lower(regexp_replace(btrim(recognition_rule), '\s+', ' ', 'g'))
                     = 'recognize upon invoicing'
                 AND btrim(debit_account) = btrim(credit_account)
                THEN 'revenue_same_accounts'
        END
    ) STORED,
    PRIMARY KEY (type, id)
);

-- Projection: every inbound message the ingest refused, with its bytes and reason.
CREATE TABLE rejected_messages (
    event_id      uuid        PRIMARY KEY,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    error_code    text        NOT NULL,
    error_detail  text        NOT NULL,
    error_field   text,
    rejected_at   timestamptz NOT NULL,
    event_position bigint     NOT NULL
);

CREATE INDEX rejected_messages_code_idx ON rejected_messages (error_code);
