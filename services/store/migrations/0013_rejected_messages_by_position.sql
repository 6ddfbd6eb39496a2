-- `ledger dlq list` and `ledger dlq replay` take the refused messages a page at a time, in
-- the order they were refused: keyset pages on the refusal's event position (never OFFSET),
-- each one index range however deep in the DLQ it is. Listing by code pages the same way,
-- so the index on the code alone gives way to one on (code, position).
CREATE INDEX rejected_messages_position_idx ON rejected_messages (event_position);
DROP INDEX rejected_messages_code_idx;
CREATE INDEX rejected_messages_code_position_idx ON rejected_messages (error_code, event_position);
