-- Which entry holds each journaled transaction, in a narrow table of its own.
--
-- Marking a run's transactions used to UPDATE a column of pending_transactions: a million
-- wide rows rewritten with two indexes each (13 s of a 25-33 s run, bench/journal_run.py).
-- Inserting a million three-column rows costs about half of that, and the primary key
-- states "a transaction is in at most one active entry" directly: taking a transaction
-- that is still in another entry is a unique violation. Cancelling an entry deletes its
-- rows, which releases its transactions to the next run.
CREATE TABLE journaled_transactions (
    type          text NOT NULL,
    id            text NOT NULL,
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

-- A run reads one period of some types: with years of history this keeps it off the rest.
CREATE INDEX pending_transactions_type_date_idx ON pending_transactions (type, date);

-- What still waits for a run (excluded transactions included: they never will be run).
CREATE VIEW unjournaled_transactions AS
SELECT p.* FROM pending_transactions p
WHERE NOT EXISTS (SELECT 1 FROM journaled_transactions j WHERE j.type = p.type AND j.id = p.id);
