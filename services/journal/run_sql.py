"""The set-based SQL of a journal run: select, summarise, and write the events in place.

Nothing here loops in Python: a million transactions are one scan, two GROUP BYs and an
INSERT ... SELECT of the events, whose payloads are built by PostgreSQL itself.
"""

#: $1 types, $2 required statuses (NULL = n/a), $3 start, $4 end, $5 period name,
#: $6 org filter (NULL without Multi-Org).
SELECT_TRANSACTIONS = """
CREATE TEMP TABLE run_selection ON COMMIT DROP AS
SELECT p.type, p.id, p.currency, p.debit_account, p.credit_account, p.segments, p.amount
FROM pending_transactions p
JOIN unnest($1::text[], $2::text[]) AS t(type, required_status) ON p.type = t.type
WHERE p.journal_entry IS NULL
  AND p.exclusion_reason IS NULL
  AND (t.required_status IS NULL OR p.status = t.required_status)
  AND CASE WHEN p.type = 'revenue_event_item' THEN p.accounting_period = $5
           ELSE p.date BETWEEN $3 AND $4 END
  AND ($6::text IS NULL OR p.org = $6)
"""

#: One summary entry per (type, currency, stamped debit account, segment values).
SUMMARISE_GROUPS = """
CREATE TEMP TABLE run_groups ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY type, currency, debit_account, segments::text)::int AS ordinal,
       type, currency, debit_account, segments, count(*) AS transaction_count,
       jsonb_agg(jsonb_build_array(type, id) ORDER BY id) AS members
FROM run_selection
GROUP BY type, currency, debit_account, segments
"""

#: Lines per (account, side) after the sign flip, summed and never netted.
SUMMARISE_LINES = """
CREATE TEMP TABLE run_lines ON COMMIT DROP AS
SELECT g.ordinal, l.account, l.side, sum(l.amount) AS amount
FROM run_selection s
JOIN run_groups g
  ON g.type = s.type AND g.currency = s.currency AND g.debit_account = s.debit_account
 AND g.segments = s.segments
CROSS JOIN LATERAL (VALUES
    (CASE WHEN s.amount >= 0 THEN s.debit_account ELSE s.credit_account END, 'debit',
     abs(s.amount)),
    (CASE WHEN s.amount >= 0 THEN s.credit_account ELSE s.debit_account END, 'credit',
     abs(s.amount))
) AS l(account, side, amount)
GROUP BY g.ordinal, l.account, l.side
"""

PREVIEW = """
SELECT g.ordinal, g.type, g.currency, g.debit_account, g.segments, g.transaction_count,
       (SELECT jsonb_agg(jsonb_build_object('account', l.account, 'side', l.side,
                                            'amount', l.amount::text)
                         ORDER BY l.side DESC, l.account)
        FROM run_lines l WHERE l.ordinal = g.ordinal) AS lines,
       (SELECT sum(l.amount) FROM run_lines l
        WHERE l.ordinal = g.ordinal AND l.side = 'debit') AS total_debit,
       (SELECT sum(l.amount) FROM run_lines l
        WHERE l.ordinal = g.ordinal AND l.side = 'credit') AS total_credit
FROM run_groups g ORDER BY g.ordinal
"""

TAKE_NUMBERS = """
UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value - $2 + 1
"""

#: $1 first entry number, $2 run number, $3 org (NULL = unlabeled), $4 period name,
#: $5 journal entry date.
STAGE_ENTRY_EVENTS = """
INSERT INTO staged_events (ord, stream, event_id, event_type, org, payload, body_hash, metadata)
SELECT g.ordinal, 'journal_entry:' || e.number, e.event_id, 'journal_entry.created', $3,
       e.payload, sha256(convert_to(e.payload::text, 'UTF8')), '{}'::jsonb
FROM run_groups g
CROSS JOIN LATERAL (
    SELECT 'JE-' || lpad(($1 + g.ordinal - 1)::text, 8, '0') AS number,
           gen_random_uuid() AS event_id
) AS n
CROSS JOIN LATERAL (
    SELECT n.number, n.event_id, jsonb_build_object(
        'event_id', n.event_id,
        'event_type', 'journal_entry.created',
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
            'lines', (SELECT jsonb_agg(jsonb_build_object('account', l.account, 'side', l.side,
                                                          'amount', l.amount::text)
                                       ORDER BY l.side DESC, l.account)
                      FROM run_lines l WHERE l.ordinal = g.ordinal),
            'total_debit', (SELECT sum(l.amount)::text FROM run_lines l
                            WHERE l.ordinal = g.ordinal AND l.side = 'debit'),
            'total_credit', (SELECT sum(l.amount)::text FROM run_lines l
                             WHERE l.ordinal = g.ordinal AND l.side = 'credit'),
            'transaction_count', g.transaction_count,
            'status', 'created',
            'transfer_status', 'no'),
        'internal', jsonb_build_object('debit_account', g.debit_account,
                                       'members', g.members)
    ) AS payload
) AS e
ORDER BY g.ordinal
"""

RUN_TOTALS = """
SELECT count(*)::bigint AS groups, coalesce(sum(transaction_count), 0)::bigint AS n
FROM run_groups
"""
