"""Projection ``rejected_messages``: the inbound messages the ingest refused, and why.

- ``message.rejected`` adds the message (a refusal is an event, so the DLQ listing survives a
  rebuild; key and value travel base64-encoded and come back as bytes);
- ``rejected_message.resolved`` removes it (a DLQ replay stored it);
- ``rejected_message.retried`` keeps it with the new reason (a DLQ replay refused it again).
"""

from __future__ import annotations

from events.names import MESSAGE_REJECTED, REJECTED_MESSAGE_RESOLVED, REJECTED_MESSAGE_RETRIED
from projections.projection import Projection, RangeStatement
from projections.segments import statement

INSERT_REJECTED = f"""
INSERT INTO rejected_messages (
    event_id, topic, partition, "offset", key, value, headers, error_code, error_detail,
    error_field, rejected_at, event_position)
SELECT e.event_id, p ->> 'topic', (p ->> 'partition')::int, (p ->> 'offset')::bigint,
       decode(p ->> 'key', 'base64'), decode(p ->> 'value', 'base64'),
       coalesce(p -> 'headers', '[]'::jsonb), p ->> 'error_code', p ->> 'error_detail',
       p ->> 'error_field', (p ->> 'rejected_at')::timestamptz, e.position
FROM events e
CROSS JOIN LATERAL (SELECT e.payload -> 'data') AS d(p)
WHERE e.position BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR e.position = ANY($3))
  AND e.event_type = '{MESSAGE_REJECTED}'
ON CONFLICT (event_id) DO NOTHING
"""


RESOLVED = """
DELETE FROM rejected_messages r
USING events e
WHERE e.position = ANY($1) AND r.event_id = (e.payload -> 'data' ->> 'rejection_event_id')::uuid
"""

RETRIED = """
UPDATE rejected_messages r
SET error_code = d ->> 'error_code', error_detail = d ->> 'error_detail',
    error_field = d ->> 'error_field'
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1) AND r.event_id = (d ->> 'rejection_event_id')::uuid
"""


REPAIR_HANDLERS = {
    REJECTED_MESSAGE_RESOLVED: statement(RESOLVED),
    REJECTED_MESSAGE_RETRIED: statement(RETRIED),
}

_RESET = "TRUNCATE rejected_messages"

PROJECTION = Projection(
    name="rejected_messages",
    tables=("rejected_messages",),
    reset_sql=_RESET,
    handlers=REPAIR_HANDLERS,
    range_statements=(RangeStatement(INSERT_REJECTED, frozenset({MESSAGE_REJECTED})),),
)
