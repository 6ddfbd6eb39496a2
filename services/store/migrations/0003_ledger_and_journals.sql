-- Projections of the operator's commands (settings, orgs, periods) and of journal runs.
-- Every row here is derived from events; only counters and the outbox are write-side.

CREATE TABLE ledger_settings (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    settlement     text    NOT NULL,
    harmonization  boolean NOT NULL,
    multi_org      boolean NOT NULL,
    event_position bigint  NOT NULL
);

CREATE TABLE orgs (
    name           text   PRIMARY KEY,
    event_position bigint NOT NULL
);

-- scope '' is the unlabeled (tenant-level) scope. The open-ended period has no end.
CREATE TABLE accounting_periods (
    scope          text    NOT NULL,
    name           text    NOT NULL,
    start_date     date,
    end_date       date,
    fiscal_year    integer,
    fiscal_quarter integer,
    status         text    NOT NULL CHECK (status IN ('open', 'pending_close', 'closed')),
    open_ended     boolean NOT NULL DEFAULT false,
    event_position bigint  NOT NULL,
    PRIMARY KEY (scope, name),
    CHECK (open_ended OR (start_date IS NOT NULL AND end_date IS NOT NULL AND start_date <= end_date))
);

CREATE UNIQUE INDEX accounting_periods_one_open_ended ON accounting_periods (scope) WHERE open_ended;

CREATE TABLE journal_runs (
    number              text    PRIMARY KEY,
    scope               text    NOT NULL,
    target_period       text,
    start_date          date    NOT NULL,
    end_date            date    NOT NULL,
    journal_entry_date  date    NOT NULL,
    transaction_types   text[]  NOT NULL,
    status              text    NOT NULL,
    transaction_count   bigint  NOT NULL,
    entry_numbers       text[]  NOT NULL,
    event_position      bigint  NOT NULL
);

CREATE TABLE journal_entries (
    number              text    PRIMARY KEY,
    journal_run         text    NOT NULL REFERENCES journal_runs (number)
        DEFERRABLE INITIALLY DEFERRED,
    scope               text    NOT NULL,
    accounting_period   text,
    journal_entry_date  date    NOT NULL,
    transaction_type    text    NOT NULL,
    currency            text    NOT NULL,
    debit_account       text    NOT NULL,
    segments            jsonb   NOT NULL,
    total_debit         numeric NOT NULL,
    total_credit        numeric NOT NULL,
    transaction_count   bigint  NOT NULL,
    status              text    NOT NULL CHECK (status IN ('created', 'cancelled')),
    transfer_status     text    NOT NULL
        CHECK (transfer_status IN ('no', 'processing', 'yes', 'error', 'ignore')),
    event_position      bigint  NOT NULL,
    CHECK (total_debit = total_credit)
);

CREATE INDEX journal_entries_run_idx ON journal_entries (journal_run);

CREATE TABLE journal_entry_lines (
    journal_entry text    NOT NULL REFERENCES journal_entries (number)
        DEFERRABLE INITIALLY DEFERRED,
    account       text    NOT NULL,
    side          text    NOT NULL CHECK (side IN ('debit', 'credit')),
    amount        numeric NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (journal_entry, account, side)
);

-- A transaction is in at most one active entry: the single column holds it, the trigger
-- below refuses to move it from one entry to another, and cancelling an entry clears it in
-- the same transaction. (No foreign key: its per-row trigger events halved rebuild speed;
-- ``ledger verify`` checks that every journal_entry names a created entry.)
ALTER TABLE pending_transactions ADD COLUMN journal_entry text;

CREATE INDEX pending_transactions_unjournaled_idx
    ON pending_transactions (type, date) WHERE journal_entry IS NULL;
CREATE INDEX pending_transactions_journal_entry_idx
    ON pending_transactions (journal_entry) WHERE journal_entry IS NOT NULL;

-- Gapless tenant-wide numbering: taken at the very end of a command, so the row lock is
-- held only for the instant before commit; a refused or failed command consumes nothing.
CREATE TABLE counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('journal_run', 0), ('journal_entry', 0);

-- Outbound events waiting for the broker, in commit order per org.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    event_type  text        NOT NULL,
    key         text        NOT NULL,
    payload     jsonb       NOT NULL,
    event_position bigint   NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    xact_id     xid8        NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;

-- The other half of "at most one active entry": a journaled transaction can only be
-- released (set to NULL) before another entry may take it.
CREATE FUNCTION pending_transactions_one_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transaction % % is already in journal entry %; cancel that entry first',
        OLD.type, OLD.id, OLD.journal_entry
        USING ERRCODE = 'unique_violation';
END
$$;

CREATE TRIGGER pending_transactions_one_active_entry
    BEFORE UPDATE OF journal_entry ON pending_transactions
    FOR EACH ROW
    WHEN (OLD.journal_entry IS NOT NULL AND NEW.journal_entry IS NOT NULL
          AND OLD.journal_entry IS DISTINCT FROM NEW.journal_entry)
    EXECUTE FUNCTION pending_transactions_one_entry();
