"""The set-based SQL of a journal run: select, summarise, and write the events in place.

Nothing here loops in Python: a million transactions are one scan and one GROUP BY, then
small statements over the summary, then an INSERT ... SELECT of the events, whose payloads
are built by PostgreSQL itself.
"""

from events.names import JOURNAL_ENTRY_CREATED

#: Session settings for the run's transaction: the member lists aggregate in memory, and
#: JIT compilation costs more than it saves on these one-off statements.
TUNE = ["SET LOCAL work_mem = '256MB'", "SET LOCAL jit = off"]

#: Select and summarise in ONE pass over the pending set: one row per
#: (type, currency, stamped debit account, segments, credit account), with the sums of
#: positive and of negative amounts kept apart (a negative amount posts its absolute value
#: with the sides swapped) and the members listed. A few thousand rows at most, from which
#: entries and lines are cheap.
#: $1 types, $2 required statuses (NULL = n/a), $3 start, $4 end, $5 period name,
#: $6 org filter (NULL without Multi-Org).
SELECT_TRANSACTIONS = """
CREATE TEMP TABLE run_parts ON COMMIT DROP AS
SELECT p.type, p.currency, p.debit_account, p.segments, p.credit_account,
       count(*) FILTER (WHERE p.amount >= 0) AS n_positive,
       coalesce(sum(p.amount) FILTER (WHERE p.amount >= 0), 0) AS positive,
       count(*) FILTER (WHERE p.amount < 0) AS n_negative,
       coalesce(sum(-p.amount) FILTER (WHERE p.amount < 0), 0) AS negative,
       jsonb_agg(jsonb_build_array(p.type, p.id)) AS members
FROM unjournaled_transactions p
JOIN unnest($1::text[], $2::text[]) AS t(type, required_status) ON p.type = t.type
WHERE p.exclusion_reason IS NULL
  AND (t.required_status IS NULL OR p.status = t.required_status)
  AND CASE WHEN p.type = 'revenue_event_item' THEN p.accounting_period = $5
           ELSE p.date BETWEEN $3 AND $4 END
  AND ($6::text IS NULL OR p.org = $6)
GROUP BY p.type, p.currency, p.debit_account, p.segments, p.credit_account
"""

#: One summary entry per (type, currency, stamped debit account, segment values). Its
#: members are its one part's list as it is (the usual case: one credit account per
#: group), or its parts' lists merged.
SUMMARISE_GROUPS = """
CREATE TEMP TABLE run_groups ON COMMIT DROP AS
WITH g AS (
    SELECT type, currency, debit_account, segments,
           sum(n_positive + n_negative)::bigint AS transaction_count,
           count(*) AS parts
    FROM run_parts
    GROUP BY type, currency, debit_account, segments
)
SELECT row_number() OVER (ORDER BY type, currency, debit_account, segments::text)::int
           AS ordinal,
       g.type, g.currency, g.debit_account, g.segments, g.transaction_count,
       CASE WHEN g.parts = 1 THEN
           (SELECT rp.members FROM run_parts rp
            WHERE rp.type = g.type AND rp.currency = g.currency
              AND rp.debit_account = g.debit_account AND rp.segments = g.segments)
       ELSE
           (SELECT jsonb_agg(m)
            FROM run_parts rp CROSS JOIN LATERAL jsonb_array_elements(rp.members) AS m
            WHERE rp.type = g.type AND rp.currency = g.currency
              AND rp.debit_account = g.debit_account AND rp.segments = g.segments)
       END AS members
FROM g
"""

#: Lines per (account, side) after the sign flip, summed and never netted.
SUMMARISE_LINES = """
CREATE TEMP TABLE run_lines ON COMMIT DROP AS
SELECT g.ordinal, l.account, l.side, sum(l.amount) AS amount
FROM run_parts rp
JOIN run_groups g
  ON g.type = rp.type AND g.currency = rp.currency AND g.debit_account = rp.debit_account
 AND g.segments = rp.segments
CROSS JOIN LATERAL (VALUES
    (rp.debit_account, 'debit', rp.positive, rp.n_positive),
    (rp.credit_account, 'credit', rp.positive, rp.n_positive),
    (rp.credit_account, 'debit', rp.negative, rp.n_negative),
    (rp.debit_account, 'credit', rp.negative, rp.n_negative)
) AS l(account, side, amount, n)
WHERE l.n > 0
GROUP BY g.ordinal, l.account, l.side
"""

#: Each entry's lines as contract JSON and its totals, once for the preview and the events;
#: amounts at the currency's precision (``format_amount``, migration 0015).
SUMMARISE_ENTRIES = """
CREATE TEMP TABLE run_entries ON COMMIT DROP AS
SELECT l.ordinal,
       jsonb_agg(jsonb_build_object('account', l.account, 'side', l.side,
                                    'amount', format_amount(l.amount, g.currency))
                 ORDER BY l.side DESC, l.account) AS lines,
       sum(l.amount) FILTER (WHERE l.side = 'debit') AS total_debit,
       sum(l.amount) FILTER (WHERE l.side = 'credit') AS total_credit
FROM run_lines l JOIN run_groups g USING (ordinal)
GROUP BY l.ordinal
"""

PREVIEW = """
SELECT g.ordinal, g.type, g.currency, g.debit_account, g.segments, g.transaction_count,
       x.lines, x.total_debit, x.total_credit
FROM run_groups g JOIN run_entries x USING (ordinal)
ORDER BY g.ordinal
"""

TAKE_NUMBERS = """
UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value - $2 + 1
"""

#: $1 first entry number, $2 run number, $3 org (NULL = unlabeled), $4 period name,
#: $5 journal entry date, $6 the events' metadata (who ran it). The payloads are
#: ``events.journal.JournalEntryCreated``'s JSON, field for field: the unit of work
#: validates each against the model before it enters the outbox.
STAGE_ENTRY_EVENTS = f"""
INSERT INTO staged_events (ord, stream, event_id, event_type, org, payload, body_hash, metadata)
SELECT g.ordinal, 'journal_entry:' || e.number, e.event_id, '{JOURNAL_ENTRY_CREATED}', $3,
       e.payload, sha256(convert_to(e.payload::text, 'UTF8')), $6::jsonb
FROM run_groups g
JOIN run_entries x USING (ordinal)
CROSS JOIN LATERAL (
    SELECT 'JE-' || lpad(($1 + g.ordinal - 1)::text, 8, '0') AS number,
           gen_random_uuid() AS event_id
) AS n
CROSS JOIN LATERAL (
    SELECT n.number, n.event_id, jsonb_build_object(
        'event_id', n.event_id,
        'event_type', '{JOURNAL_ENTRY_CREATED}',
        'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'org', $3::text,
        'schema_version', 1,
        'data', jsonb_build_object(
            'number', n.number,
            'journal_run', $2::text,
            'org', $3::text,
            'accounting_period', $4::text,
            'journal_entry_date', $5::date,
            'transaction_type', g.type,
            'currency', g.currency,
            'segments', g.segments,
            'lines', x.lines,
            'total_debit', format_amount(x.total_debit, g.currency),
            'total_credit', format_amount(x.total_credit, g.currency),
            'transaction_count', g.transaction_count,
            'status', 'created',
            'transfer_status', 'no',
            'reverses', NULL::text),
        'internal', jsonb_build_object('debit_account', g.debit_account,
                                       'members', g.members)
    ) AS payload
) AS e
"""

RUN_TOTALS = """
SELECT count(*)::bigint AS groups, coalesce(sum(transaction_count), 0)::bigint AS n
FROM run_groups
"""
