"""A period's transactions that are not journaled: pending, held or excluded, and why.

Half of the period summary (``services.period_summary``): the scope's transactions dated in
the period (a revenue event item: naming it) that no active entry holds, judged as
``ledger pending`` judges them (``services.reports``), counted and summed per state and
currency, counted per state and reason.

Two ways to the same answer, because a closed period holds a million journaled
transactions and telling each one from the few that are not costs a second:

- **By counting** (tried first): one pass over the period's transactions, with no
  membership test for those whose state is pending. The scope's active entries of the runs
  that touched the period hold exactly the period's journaled transactions: a run's target
  lies inside one period of its scope, a transaction never changes date or org, and only
  the ``multi_org`` setting moves one to another scope (so: no settings change since the
  first run that touched the period, else this way steps aside). Their
  ``transaction_count`` per currency is therefore the number journaled. The journaled ones
  now held or excluded (a status changed after the run) are found one by one, being few.
  If the counts leave no pending transaction unjournaled, that is the answer; if they
  leave some, their amounts are unknown, and:
- **by anti-join**: every transaction of the period tested against the memberships of the
  runs that touched its dates or name (a hash anti-join), always exact.

tests/integration/test_unjournaled.py keeps the two equal.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from events.periods import UNLABELED_SCOPE
from services.reports import REASON, STATE

#: Plans for this call's values (a generic plan cannot estimate the period's rows), and
#: room for the anti-join's hash table.
TUNING = ["SET LOCAL plan_cache_mode = force_custom_plan", "SET LOCAL work_mem = '256MB'",
          "SET LOCAL jit = off"]

#: The scope's ($6) transactions in the period: dated in [$7, $8], or for revenue event
#: items naming it ($9). $1..$5 as ``services.reports.SCOPED``; ``{in_scope}`` is
#: ``SCOPE_OF = $6`` over plain columns (``in_scope``), which the planner can estimate.
_IN_PERIOD = """
{in_scope}
AND ((p.type <> 'revenue_event_item' AND p.date BETWEEN $7 AND $8)
     OR (p.type = 'revenue_event_item' AND p.accounting_period = $9))
"""

#: A run (``run``) that touched the period: its dates, or its name (any scope).
_TOUCHING = "(run.start_date <= {end} AND run.end_date >= {start} OR run.target_period = {name})"

#: The rows every variant answers with: count and sum per state and currency
#: (``per_currency``), count per state and reason, from ``g``: counts and sums per
#: (type, status, exclusion reason, currency). Judging groups rather than rows, and leaving
#: the grouping sets to the few groups, lets PostgreSQL aggregate in parallel workers.
_JUDGED = f"""
s AS (
    SELECT g.*, r.required_status, $6::text AS scope
    FROM g JOIN unnest($3::text[], $4::text[]) AS r(type, required_status) ON r.type = g.type
),
x AS (SELECT {STATE} AS state, {REASON} AS reason, s.currency, s.count, s.amount FROM s)
SELECT x.state, x.currency, x.reason, GROUPING(x.reason) = 1 AS per_currency,
       sum(x.count)::bigint AS count, sum(x.amount) AS amount
FROM x
GROUP BY GROUPING SETS ((x.state, x.currency), (x.state, x.reason))
ORDER BY x.state, x.currency, x.reason
"""

_GROUPS = """
SELECT p.type, p.status, p.exclusion_reason, p.currency, count(*) AS count,
       sum(p.amount) AS amount
FROM pending_transactions p
WHERE {where}
GROUP BY p.type, p.status, p.exclusion_reason, p.currency
"""

#: The period's transactions no active entry holds. Only the memberships of the runs that
#: touched the period are hashed, whatever the history.
ANTI_JOIN = "WITH g AS (" + _GROUPS.format(where=_IN_PERIOD + f"""
AND NOT EXISTS (
    SELECT 1 FROM journaled_transactions j
    JOIN journal_entries e ON e.number = j.journal_entry
    JOIN journal_runs run ON run.number = e.journal_run
    WHERE j.type = p.type AND j.id = p.id
      AND {_TOUCHING.format(start="$7", end="$8", name="$9")})
""") + ")," + _JUDGED

#: Every transaction of the period, journaled or not: one parallel pass.
EVERY = "WITH g AS (" + _GROUPS.format(where=_IN_PERIOD) + ")," + _JUDGED

#: The period's held and excluded transactions (few: each is looked up), in the rows of
#: ``ANTI_JOIN`` for those not journaled, and how many are journaled (``journaled``).
NOT_PENDING = f"""
WITH s AS (
    SELECT p.type, p.id, p.status, p.amount, p.currency, p.exclusion_reason,
           r.required_status, $6::text AS scope
    FROM pending_transactions p
    JOIN unnest($3::text[], $4::text[]) AS r(type, required_status) ON r.type = p.type
    WHERE {_IN_PERIOD}
),
x AS (SELECT {STATE} AS state, {REASON} AS reason, s.type, s.id, s.currency, s.amount FROM s),
y AS (SELECT x.*, EXISTS (SELECT 1 FROM journaled_transactions j
                          WHERE j.type = x.type AND j.id = x.id) AS journaled
      FROM x WHERE x.state <> 'pending')
SELECT y.state, y.currency, y.reason, GROUPING(y.reason) = 1 AS per_currency,
       count(*) FILTER (WHERE NOT y.journaled) AS count,
       sum(y.amount) FILTER (WHERE NOT y.journaled) AS amount,
       count(*) FILTER (WHERE y.journaled) AS journaled
FROM y
GROUP BY GROUPING SETS ((y.state, y.currency), (y.state, y.reason))
ORDER BY y.state, y.currency, y.reason
"""

#: Per currency, the transactions held by the scope's ($1) active entries of the runs that
#: touched the period ($2, $3, $4).
HELD_BY_RUNS = f"""
SELECT e.currency, sum(e.transaction_count) AS count
FROM journal_entries e JOIN journal_runs run ON run.number = e.journal_run
WHERE e.scope = $1 AND e.status = 'created'
  AND {_TOUCHING.format(start="$2", end="$3", name="$4")}
GROUP BY e.currency
"""

#: Whether the settings (``multi_org``, which moves transactions between scopes) are older
#: than every run that touched the period ($1, $2, $3), in any scope.
SETTINGS_BEFORE_RUNS = f"""
SELECT coalesce((SELECT event_position FROM ledger_settings), -1) < ALL (
    SELECT run.event_position FROM journal_runs run
    WHERE {_TOUCHING.format(start="$1", end="$2", name="$3")})
"""


def in_scope(multi_org: bool, scope: str) -> str:
    """``SCOPE_OF = $6`` over plain columns, which the planner can estimate (a CASE
    expression it cannot: it guesses 0.5% of the rows, and plans for that)."""
    if not multi_org:  # everything is unlabeled
        return "$6::text = ''"
    if scope != UNLABELED_SCOPE:  # the org's label, but not the legacy types
        return "p.org = $6::text AND NOT (p.type = ANY($2::text[]))"
    return "$6::text = '' AND (p.org IS NULL OR p.org = '' OR p.type = ANY($2::text[]))"


def anti_join_sql(multi_org: bool, scope: str) -> str:
    return ANTI_JOIN.format(in_scope=in_scope(multi_org, scope))


def every_sql(multi_org: bool, scope: str) -> str:
    return EVERY.format(in_scope=in_scope(multi_org, scope))


def not_pending_sql(multi_org: bool, scope: str) -> str:
    return NOT_PENDING.format(in_scope=in_scope(multi_org, scope))


Rows = list[asyncpg.Record]


async def by_anti_join(
    conn: asyncpg.Connection, args: list[Any], scope: str, start: date, end: date, name: str
) -> Rows:
    """Rows (state, currency, reason, per_currency, count, amount): per currency
    (``per_currency``) or per reason, of the period's transactions not journaled.
    ``args``: ``services.reports.report_args``; ``end`` of the open-ended period:
    ``date.max``."""
    return list(await conn.fetch(anti_join_sql(args[0], scope), *args, scope, start, end, name))


async def by_counting(
    conn: asyncpg.Connection, args: list[Any], scope: str, start: date, end: date, name: str
) -> Rows | None:
    """The rows of ``by_anti_join`` when the counts show that no pending transaction is
    unjournaled (None otherwise, or when a transaction may have changed scope)."""
    if not await conn.fetchval(SETTINGS_BEFORE_RUNS, start, end, name):
        return None
    params = (*args, scope, start, end, name)
    every = await conn.fetch(every_sql(args[0], scope), *params)
    not_pending: Rows = []
    if any(r["state"] != "pending" for r in every):
        found = await conn.fetch(not_pending_sql(args[0], scope), *params)
        not_pending = [r for r in found if r["count"]]
    else:
        found = []
    # per currency: pending ones, plus journaled held or excluded ones, less those the
    # runs' entries hold, is the number of pending ones no entry holds
    left: dict[str, int] = {}
    for r in every:
        if r["per_currency"] and r["state"] == "pending":
            left[r["currency"]] = left.get(r["currency"], 0) + r["count"]
    for r in found:
        if r["per_currency"]:
            left[r["currency"]] = left.get(r["currency"], 0) + r["journaled"]
    for r in await conn.fetch(HELD_BY_RUNS, scope, start, end, name):
        left[r["currency"]] = left.get(r["currency"], 0) - r["count"]
    if any(left.values()):
        return None
    return not_pending


async def unjournaled(
    conn: asyncpg.Connection, args: list[Any], scope: str, start: date, end: date, name: str
) -> Rows:
    """``by_counting`` if it can tell, else ``by_anti_join``; run ``TUNING`` first."""
    counted = await by_counting(conn, args, scope, start, end, name)
    if counted is not None:
        return counted
    return await by_anti_join(conn, args, scope, start, end, name)
