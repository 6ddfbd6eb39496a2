"""Showing an amount exists twice: ``events.format_amount`` for what Python writes, and the
SQL function ``format_amount`` (migration 0015) for what PostgreSQL writes itself (entry
payloads built by a run, the CSV export). This keeps the two equal over every ISO 4217 code
and the amounts where they could differ."""

from __future__ import annotations

import itertools
from decimal import Decimal

import asyncpg

from events import format_amount, minor_units
from events._iso4217 import MINOR_UNITS

AMOUNTS = [
    "0", "-0", "0.0", "0.000", "-0.5", "0.5", "12.5", "12", "500", "500.5", "1.25",
    "19.625", "10.000", "-3.25", "1E+2", "-1E+3", "1E-10", "-1E-10", "0E-12",
    "12345678901234567890.1", "99999999999999999999999999999999999999",
    "0.00000000000000000000000000000000000001",
]
UNKNOWN = ["ZZZ", "usd"]  # not codes: both sides assume two digits


async def test_sql_minor_units_match_the_python_table(pool: asyncpg.Pool) -> None:
    codes = [*sorted(MINOR_UNITS), *UNKNOWN]
    rows = await pool.fetch("SELECT c, currency_minor_units(c) AS digits FROM unnest($1::text[]) c",
                            codes)
    assert {r["c"]: r["digits"] for r in rows} == {c: minor_units(c) for c in codes}


async def test_sql_format_amount_matches_python_over_every_code(pool: asyncpg.Pool) -> None:
    cases = list(itertools.product(AMOUNTS, [*sorted(MINOR_UNITS), *UNKNOWN]))
    rows = await pool.fetch(
        "SELECT n, format_amount(a::numeric, c) AS shown "
        "FROM unnest($1::int[], $2::text[], $3::text[]) AS t(n, a, c)",
        list(range(len(cases))), [a for a, _ in cases], [c for _, c in cases])
    shown = {r["n"]: r["shown"] for r in rows}
    mismatches = [(a, c, shown[i], format_amount(Decimal(a), c))
                  for i, (a, c) in enumerate(cases) if shown[i] != format_amount(Decimal(a), c)]
    assert mismatches == []
    assert len(cases) == len(AMOUNTS) * 188
    assert [shown[cases.index(("12.5", c))] for c in ("USD", "JPY", "BHD", "XAU")] == [
        "12.50", "12.5", "12.500", "12.5"]


async def test_sql_format_amount_is_inlined(pool: asyncpg.Pool) -> None:
    """Inlined, it costs about as much as ``amount::text`` on a million-row COPY; called, it
    would cost a function call per row."""
    plan = await pool.fetchval(
        "EXPLAIN (VERBOSE, FORMAT JSON) SELECT format_amount(g / 4.0, 'USD') "
        "FROM generate_series(1, 3) AS g")
    output = str(plan)
    assert "round(" in output and "format_amount" not in output
