"""Projection ``api_keys``: the HTTP API's keys, their roles and whether they still work.

- ``api_key.created`` adds the key: name, role, the SHA-256 of its token (never the token),
  when it was created;
- ``api_key.revoked`` stamps ``revoked_at``; the row stays (a name is never used twice, and
  ``ledger api-keys list`` shows when each key stopped working).
"""

from __future__ import annotations

from events.names import API_KEY_CREATED, API_KEY_REVOKED
from projections.projection import Projection
from projections.segments import statement

_CREATED = """
INSERT INTO api_keys (name, role, token_hash, created_at, event_position)
SELECT d ->> 'name', d ->> 'role', d ->> 'token_hash', (d ->> 'created_at')::timestamptz,
       e.position
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1)
"""

_REVOKED = """
UPDATE api_keys k
SET revoked_at = (d ->> 'revoked_at')::timestamptz
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1) AND k.name = d ->> 'name'
"""

HANDLERS = {
    API_KEY_CREATED: statement(_CREATED),
    API_KEY_REVOKED: statement(_REVOKED),
}

#: DELETE, not TRUNCATE: every HTTP request reads this table, and TRUNCATE would lock them
#: all out until a rebuild commits (minutes on a long log). Deleted rows stay visible to
#: other transactions until then, so the API keeps answering with the keys as they were;
#: the table is a few rows, so deleting costs nothing.
_RESET = "DELETE FROM api_keys"

PROJECTION = Projection(
    name="api_keys",
    tables=("api_keys",),
    reset_sql=_RESET,
    handlers=HANDLERS,
)
