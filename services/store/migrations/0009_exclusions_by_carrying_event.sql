-- The exclusion rules, second version (docs/domain.md §1 "What is never picked up"; mirror of
-- events.exclusions.exclusion_reason, kept equal by tests/integration/test_exclusion_sql.py):
--
-- - the lines of a credit_memo.unapplied event are excluded ("unapplied_credit_memo"): the
--   rule depends on the event that carried a line, so the function takes its type as a
--   sixth argument (the pending projection passes e.event_type);
-- - a recognition rule is "recognize upon invoicing" in any spelling that folds to it:
--   ASCII letters lower-cased, every run of '_', '-' and whitespace one space, trimmed.
--   Folding happens under the "C" collation so that the database's locale cannot make a
--   character a letter or a space that Python does not (events.exclusions does the same).
--
-- Still one SQL expression, IMMUTABLE, not STRICT, each argument a plain column at the call
-- site: PostgreSQL inlines it into the projection's INSERT ... SELECT (see 0004).
DROP FUNCTION transaction_exclusion_reason(text, text, text, text, text);

CREATE FUNCTION transaction_exclusion_reason(
    type text, subtype text, debit_account text, credit_account text, recognition_rule text,
    event_type text
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN (type LIKE '%\_application' OR type LIKE '%\_application\_item')
             AND lower(btrim(subtype)) = 'reclassification'
            THEN 'reclassification'
        WHEN event_type = 'credit_memo.unapplied'
            THEN 'unapplied_credit_memo'
        WHEN type = 'revenue_event_item'
             AND btrim(regexp_replace(lower(recognition_rule COLLATE "C"), '[\s_-]+', ' ', 'g'),
                       ' ') = 'recognize upon invoicing'
             AND (btrim(debit_account) = '' OR btrim(credit_account) = '')
            THEN 'revenue_upon_invoicing_blank_account'
        WHEN type = 'revenue_event_item'
             AND btrim(regexp_replace(lower(recognition_rule COLLATE "C"), '[\s_-]+', ' ', 'g'),
                       ' ') = 'recognize upon invoicing'
             AND btrim(debit_account) = btrim(credit_account)
            THEN 'revenue_same_accounts'
    END
$$;

-- Upgrading in place: pending_transactions is a projection of the log, so bringing the
-- stored reasons up to the new rules from the log is what a rebuild would do, only cheaper.
-- Only two types can change reason: credit memo application items (the new rule; their
-- carrying event is the one at the row's event_position) and revenue event items (the
-- rule spellings). A row already in a journal entry keeps its entry: history is not
-- rewritten; if that entry is cancelled, the transaction is not picked up again.
UPDATE pending_transactions p
SET exclusion_reason = r.reason
FROM (
    SELECT q.type, q.id,
           transaction_exclusion_reason(q.type, q.subtype, q.debit_account, q.credit_account,
                                        q.recognition_rule, e.event_type) AS reason
    FROM pending_transactions q
    LEFT JOIN events e ON e.position = q.event_position
    WHERE q.type IN ('credit_memo_application_item', 'revenue_event_item')
) AS r
WHERE p.type = r.type AND p.id = r.id
  AND p.exclusion_reason IS DISTINCT FROM r.reason;
