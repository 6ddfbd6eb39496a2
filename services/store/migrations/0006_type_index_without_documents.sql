-- Billing documents are most of the log, and every reader takes them by position range
-- (the pending projection, a rebuild's pages, verify): the (event_type, position) index
-- costs each of them an insertion (~3 us of a ~27 us append) and serves none. It now holds
-- only the other types (commands, journal events, status changes, refusals), which
-- projections, rebuilds and republish look up by type among many documents.
DROP INDEX events_type_position_idx;
CREATE INDEX events_type_position_idx ON events (event_type, position)
WHERE event_type NOT IN (
    'adjustment.processed', 'credit_memo.applied', 'credit_memo.posted',
    'credit_memo.unapplied', 'debit_memo.posted', 'fx.unrealized_gain_loss', 'invoice.posted',
    'payment.applied', 'payment.processed', 'payment.unapplied', 'refund.processed',
    'revenue.recognized'
);
