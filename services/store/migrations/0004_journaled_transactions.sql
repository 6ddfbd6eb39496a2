-- Which entry holds each journaled transaction, in a narrow table of its own.
--
-- Marking a run's transactions used to UPDATE a column of pending_transactions: a million
-- wide rows rewritten with two indexes each (13 s of a 25-33 s run, bench/journal_run.py).
-- Inserting a million three-column rows costs about half of that, and the primary key
-- states "a transaction is in at most one active entry" directly: taking a transaction
-- that is still in another entry is a unique violation. Cancelling an entry deletes its
-- rows, which releases its transactions to the next run.
CREATE TABLE journaled_transactions (
    type          text COLLATE "C" NOT NULL,
    id            text COLLATE "C" NOT NULL,
    journal_entry text NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE INDEX journaled_transactions_entry_idx ON journaled_transactions (journal_entry);

INSERT INTO journaled_transactions (type, id, journal_entry)
SELECT type, id, journal_entry FROM pending_transactions WHERE journal_entry IS NOT NULL;

DROP TRIGGER pending_transactions_one_active_entry ON pending_transactions;
DROP FUNCTION pending_transactions_one_entry();
DROP INDEX pending_transactions_unjournaled_idx;
DROP INDEX pending_transactions_journal_entry_idx;
ALTER TABLE pending_transactions DROP COLUMN journal_entry;

-- Transaction keys compare as bytes ("C"): the order C.UTF-8 gives UTF-8 text anyway, but
-- sorts and index builds compare with memcmp and abbreviated keys (a rebuild re-creates the
-- primary key over millions of rows: 6.8 s -> 4.6 s for 2.9M).
--
-- The exclusion rules (docs/domain.md §1 "What is never picked up"; mirror of
-- events.exclusions.exclusion_reason) move from a generated column to a function the
-- projection calls while inserting: PostgreSQL inlines it, and the generated-column
-- machinery cost ~0.6 us a row (a generated column also pins the types of what it reads).
CREATE FUNCTION transaction_exclusion_reason(
    type text, subtype text, debit_account text, credit_account text, recognition_rule text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
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
$$;

ALTER TABLE pending_transactions DROP COLUMN exclusion_reason;
ALTER TABLE pending_transactions
    ALTER COLUMN type TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C",
    ADD COLUMN exclusion_reason text;
UPDATE pending_transactions
SET exclusion_reason = transaction_exclusion_reason(type, subtype, debit_account,
                                                    credit_account, recognition_rule);

-- A run reads one period: with years of history this keeps it off the rest. BRIN, because
-- billing events arrive roughly in date order: a few pages of summaries instead of a btree
-- entry per transaction, so the ingest and a rebuild barely pay for it.
CREATE INDEX pending_transactions_date_idx ON pending_transactions USING brin (date);

-- What still waits for a run (excluded transactions included: they never will be run).
CREATE VIEW unjournaled_transactions AS
SELECT p.* FROM pending_transactions p
WHERE NOT EXISTS (SELECT 1 FROM journaled_transactions j WHERE j.type = p.type AND j.id = p.id);
