-- Amounts at the currency's precision (docs/domain.md §3 "Amounts"): the SQL half of
-- events.amounts, for what PostgreSQL writes itself (journal entry payloads built by a run,
-- entry and pending readers, the transaction detail CSV written by COPY).
--
-- currency_minor_units: ISO 4217 minor-unit digits, the table of events/_iso4217.py
-- (MINOR_UNITS: the codes listed here, every other code 2; "N.A." codes such as XAU 0).
-- tests/integration/test_amount_sql.py keeps the two equal over every code.
--
-- format_amount: the amount as text with at least those digits, never fewer than it has:
-- USD 12.5 -> 12.50, JPY 500 -> 500, USD 19.625 -> 19.625. round() to a scale above the
-- value's only appends zeros, so the value is unchanged. Both are one SQL expression,
-- IMMUTABLE, arguments used as plain columns at the call sites: PostgreSQL inlines them
-- (about 0.1 us a row: nothing next to a COPY's own cost).
CREATE FUNCTION currency_minor_units(currency text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN currency IN (
            'BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG',
            'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XAG', 'XAU', 'XBA',
            'XBB', 'XBC', 'XBD', 'XDR', 'XOF', 'XPD', 'XPF', 'XPT', 'XSU',
            'XTS', 'XUA', 'XXX')
            THEN 0
        WHEN currency IN (
            'BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND')
            THEN 3
        WHEN currency IN (
            'CLF', 'UYW')
            THEN 4
        ELSE 2
    END
$$;

CREATE FUNCTION format_amount(amount numeric, currency text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(amount, greatest(scale(amount), currency_minor_units(currency)))::text
$$;

-- The period summary reads a scope's entries dated in one period.
CREATE INDEX journal_entries_scope_date_idx ON journal_entries (scope, journal_entry_date);
