"""Projections of the operator's commands: ``ledger_settings``, ``orgs``, ``accounting_periods``.

- ``settings.changed`` replaces the single settings row;
- ``org.created`` adds the org (its open-ended period comes as its own ``period.created``);
- ``period.created`` adds a period to its scope, with its id (derived from scope and name for
  events recorded before periods had ids, so that a rebuild gives the same id);
- ``period.status_changed`` moves a period between open, pending_close and closed.

Each period keeps when its first and latest events were recorded and their actors
(``metadata ->> 'actor'``, null where not recorded): Zuora's createdOn/By, updatedOn/By.
"""

from __future__ import annotations

from events.names import ORG_CREATED, PERIOD_CREATED, PERIOD_STATUS_CHANGED, SETTINGS_CHANGED
from projections.projection import Projection
from projections.segments import statement

_SETTINGS = """
INSERT INTO ledger_settings (settlement, harmonization, multi_org, event_position)
SELECT d ->> 'settlement', (d ->> 'harmonization')::boolean, (d ->> 'multi_org')::boolean,
       e.position
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1)
ORDER BY e.position DESC
LIMIT 1
ON CONFLICT (singleton) DO UPDATE
SET settlement = EXCLUDED.settlement, harmonization = EXCLUDED.harmonization,
    multi_org = EXCLUDED.multi_org, event_position = EXCLUDED.event_position
"""

_ORG = """
INSERT INTO orgs (name, event_position)
SELECT e.payload -> 'data' ->> 'name', e.position FROM events e WHERE e.position = ANY($1)
"""

_PERIOD = """
INSERT INTO accounting_periods (scope, name, start_date, end_date, fiscal_year,
                                fiscal_quarter, status, open_ended, event_position, id, notes,
                                created_at, created_by, updated_at, updated_by)
SELECT d ->> 'scope', d ->> 'name', (d ->> 'start_date')::date, (d ->> 'end_date')::date,
       (d ->> 'fiscal_year')::int, (d ->> 'fiscal_quarter')::int, 'open',
       (d ->> 'open_ended')::boolean, e.position,
       coalesce(d ->> 'id', md5('accounting-period:' || (d ->> 'scope') || ':' || (d ->> 'name'))),
       d ->> 'notes', e.recorded_at, e.metadata ->> 'actor', e.recorded_at,
       e.metadata ->> 'actor'
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1)
"""

_PERIOD_STATUS = """
UPDATE accounting_periods p
SET status = latest.status, updated_at = latest.recorded_at, updated_by = latest.actor
FROM (
    SELECT DISTINCT ON (d ->> 'scope', d ->> 'name')
           d ->> 'scope' AS scope, d ->> 'name' AS name, d ->> 'to' AS status,
           e.recorded_at, e.metadata ->> 'actor' AS actor
    FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
    WHERE e.position = ANY($1)
    ORDER BY d ->> 'scope', d ->> 'name', e.position DESC
) AS latest
WHERE p.scope = latest.scope AND p.name = latest.name
"""


HANDLERS = {
    SETTINGS_CHANGED: statement(_SETTINGS),
    ORG_CREATED: statement(_ORG),
    PERIOD_CREATED: statement(_PERIOD),
    PERIOD_STATUS_CHANGED: statement(_PERIOD_STATUS),
}

_RESET = "TRUNCATE ledger_settings, orgs, accounting_periods"

PROJECTION = Projection(
    name="ledger",
    tables=("ledger_settings", "orgs", "accounting_periods"),
    reset_sql=_RESET,
    handlers=HANDLERS,
)
