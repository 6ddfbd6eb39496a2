"""Journal-run benchmark: a million pending transactions into summary entries.

``python -m bench.journal_run [--transactions N]`` (default 1,000,000) against PostgreSQL at
127.0.0.1:5432 (user postgres), each dataset in a fresh schema ``bench_<hex>_<name>`` named
in the URL (``?search_path=``), all dropped at the end (``--keep`` keeps them).

Data: one org (US) and one period (Apr-2024) under invoice item settlement with Multi-Org,
set up through ``services.commands``; N transactions in documents of ten lines across eight
types, two currencies and fifty segment combinations (800 entries), loaded the way the
ingest stores them: canonical bodies from ``events.parse_billing_event``, then
one unit of work (``services.store.unit_of_work``: append and fold) per batch of
20,000 events. The load runs in a child process so it cannot inflate the RSS measured here.

Measured:
(a) ``services.journal.run.create_journal_run`` over the N transactions, with this
    process's peak RSS sampled from a thread;
(b) the bare SQL floor on an identical copy: one GROUP BY into entry lines plus one INSERT
    marking the rows journaled, in one transaction;
(c) on a third dataset whose N transactions make one entry: the run, then
    ``services.journal.entries.export_entry_csv`` of that entry to a file, with peak RSS;
(d) on the same dataset, that entry transferred and reversed
    (``services.journal.reversal.reverse_entry``: its N memberships released), against its
    floor: one INSERT ... SELECT of its N members into ``journaled_transactions`` (rolled
    back).
(e) after (a), ``services.period_summary.period_summary`` of the period the N transactions
    were journaled in (best of three), and its parts alone: the entries' lines per account;
    the transactions not journaled, by counting (what the summary does when the counts show
    nothing pending) and by anti-join (what it does when some are left pending); beside
    them the floor, one pass summing the period's transactions.
With ``--explain`` (or when run/floor > 2), run (a) is cancelled and repeated under
``auto_explain`` (ANALYZE, BUFFERS) and the slowest statements' plans are written beside the
JSON results in ``bench/results/``. Targets: run <= 2x floor, run < 20 s, RSS < 300 MB,
reversal <= 2x its floor; period summary < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import re
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.documents import BENCH_TYPES, bench_documents, single_group_documents
from bench.peak_rss import PeakRss
from events import canonical_body, parse_billing_event
from events.journal_rules import JournalRunRequest
from events.transaction_types import TRANSACTION_TYPES
from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings
from services.ingest.classify import stream_of
from services.journal.entries import cancel_run, export_entry_csv, set_transfer_status
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.period_summary import ACCOUNTS, period_summary
from services.reports import report_args
from services.samples import to_lines
from services.store import log
from services.store.pool import _prepare_connection, create_pool
from services.store.unit_of_work import unit_of_work
from services.unjournaled import TUNING, by_anti_join, by_counting

RESULTS = Path(__file__).parent / "results"
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
APRIL = (date(2024, 4, 1), date(2024, 4, 30))
TARGET_RATIO, TARGET_RUN_S, TARGET_RSS_MB, TARGET_SUMMARY_S = 2.0, 20.0, 300.0, 1.0
console = Console(width=max(Console().width, 110))

FLOOR_GROUP = """
CREATE TEMP TABLE floor_lines ON COMMIT DROP AS
SELECT p.type, p.currency, p.debit_account, p.segments, l.account, l.side,
       sum(l.amount) AS amount, count(*) AS n
FROM pending_transactions p
JOIN unnest($1::text[], $2::text[]) AS t(type, required_status)
  ON p.type = t.type AND p.status = t.required_status
CROSS JOIN LATERAL (VALUES
    (CASE WHEN p.amount >= 0 THEN p.debit_account ELSE p.credit_account END, 'debit',
     abs(p.amount)),
    (CASE WHEN p.amount >= 0 THEN p.credit_account ELSE p.debit_account END, 'credit',
     abs(p.amount))) AS l(account, side, amount)
WHERE p.exclusion_reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM journaled_transactions j WHERE j.type = p.type AND j.id = p.id)
  AND p.date BETWEEN $3 AND $4 AND p.org = $5
GROUP BY 1, 2, 3, 4, 5, 6
"""

FLOOR_MARK = """
INSERT INTO journaled_transactions (type, id, journal_entry)
SELECT p.type, p.id, 'JE-FLOOR'
FROM pending_transactions p
JOIN unnest($1::text[], $2::text[]) AS t(type, required_status)
  ON p.type = t.type AND p.status = t.required_status
WHERE p.exclusion_reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM journaled_transactions j WHERE j.type = p.type AND j.id = p.id)
  AND p.date BETWEEN $3 AND $4 AND p.org = $5
"""


#: The reversal's floor: marking its members journaled again, in one statement.
REVERSAL_FLOOR = """
INSERT INTO journaled_transactions (type, id, journal_entry)
SELECT p.type, p.id, 'JE-FLOOR' FROM unjournaled_transactions p
"""


#: What any per-transaction count of a period costs at least: one pass over its rows.
SUMMARY_FLOOR = """
SELECT currency, count(*), sum(amount) FROM pending_transactions
WHERE date BETWEEN $1 AND $2 GROUP BY currency
"""


def with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


# -- loading (child process) -------------------------------------------------------------


async def set_up(pool: asyncpg.Pool) -> None:
    await set_settings(pool, {"settlement": "invoice_item_settlement", "multi_org": "true"})
    await create_org(pool, "US")
    await create_period(pool, org="US", name="Apr-2024", start=APRIL[0], end=APRIL[1],
                        fiscal_year=2024, fiscal_quarter=2)


def stored_form(documents: Iterator[dict[str, Any]]) -> list[log.NewEvent]:
    """What the ingest appends for these documents: validated, canonical, hashed."""
    out = []
    for value in to_lines(documents):
        event = parse_billing_event(value)
        body = canonical_body(event)
        out.append(log.NewEvent(stream=stream_of(event), event_id=event.event_id,
                                event_type=event.event_type, org=event.org,
                                payload=body.decode(), body_hash=hashlib.sha256(body).digest()))
    return out


async def append_batch(pool: asyncpg.Pool, events: list[log.NewEvent]) -> None:
    async with unit_of_work(pool) as uow:
        await uow.record(events)


async def load(urls: dict[str, str], transactions: int, lines: int, batch: int) -> dict[str, float]:
    pools = {name: await create_pool(url, max_size=1, run_migrations=True)
             for name, url in urls.items()}
    timings: dict[str, float] = {}
    try:
        for pool in pools.values():
            await set_up(pool)
        documents = transactions // lines
        plans: list[tuple[str, Callable[..., Iterator[dict[str, Any]]], list[str]]] = [
            ("mixed", bench_documents, ["run", "floor"]),
            ("single", single_group_documents, ["single"]),
        ]
        for label, generate, targets in plans:
            started = time.perf_counter()
            for first in range(0, documents, batch):
                events = stored_form(generate(min(batch, documents - first), lines=lines,
                                              first=first))
                for target in targets:
                    await append_batch(pools[target], events)
                done = min(first + batch, documents) * lines
                console.print(f"  loaded {label}: {done:,}/{transactions:,} transactions "
                              f"into {', '.join(targets)} ({time.perf_counter() - started:.0f}s)")
            timings[f"load_{label}_s"] = time.perf_counter() - started
        for pool in pools.values():
            await pool.execute("VACUUM ANALYZE pending_transactions")
            await pool.execute("VACUUM ANALYZE events")
    finally:
        for pool in pools.values():
            await pool.close()
    return timings


def load_in_child(urls: dict[str, str], transactions: int, lines: int, batch: int,
                  out: Any) -> None:
    out.put(asyncio.run(load(urls, transactions, lines, batch)))


# -- measuring (this process) -------------------------------------------------------------


def request() -> JournalRunRequest:
    return JournalRunRequest(types=BENCH_TYPES, org="US", period="Apr-2024")


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """(result, seconds, peak RSS MB)."""
    with PeakRss() as rss:
        started = time.perf_counter()
        result = await work()
        seconds = time.perf_counter() - started
    return result, seconds, rss.mb


async def floor(url: str) -> dict[str, Any]:
    statuses = [TRANSACTION_TYPES[t].required_status for t in BENCH_TYPES]
    args = (list(BENCH_TYPES), statuses, APRIL[0], APRIL[1], "US")
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(FLOOR_GROUP, *args)
            grouped = time.perf_counter()
            marked = await conn.execute(FLOOR_MARK, *args)
            updated = time.perf_counter()
        return {"floor_transactions": int(marked.split()[-1]),
                "floor_s": time.perf_counter() - started, "floor_group_s": grouped - started,
                "floor_mark_s": updated - grouped}
    finally:
        await conn.close()


async def reversal_floor(pool: asyncpg.Pool) -> dict[str, Any]:
    """One INSERT ... SELECT of the released members, in a transaction rolled back."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            started = time.perf_counter()
            inserted = await conn.execute(REVERSAL_FLOOR)
            seconds = time.perf_counter() - started
        finally:
            await transaction.rollback()
    return {"reversal_floor_s": seconds, "reversal_floor_transactions": int(inserted.split()[-1])}


async def export(pool: asyncpg.Pool, number: str, path: Path) -> int:
    with path.open("wb") as handle:
        async def write(chunk: bytes) -> None:
            handle.write(chunk)

        return await export_entry_csv(pool, number, write)


async def summary(pool: asyncpg.Pool) -> dict[str, Any]:
    """(e): the whole summary, best of three, then each half alone on one connection."""
    times = []
    for _ in range(3):
        found, seconds, _rss = await timed(lambda: period_summary(pool, "Apr-2024", "US"))
        times.append(seconds)
    out: dict[str, Any] = {"summary_s": min(times), "summary_runs_s": times,
                           "summary_entries": found["entry_count"],
                           "summary_unjournaled": sum(found[s]["count"]
                                                      for s in ("pending", "held", "excluded"))}
    async with pool.acquire() as conn:
        started = time.perf_counter()
        await conn.fetch(ACCOUNTS, "US", APRIL[0], APRIL[1])
        out["summary_accounts_s"] = time.perf_counter() - started
        args = await report_args(conn)
        for method in (by_counting, by_anti_join):
            async with conn.transaction():
                for statement in TUNING:
                    await conn.execute(statement)
                started = time.perf_counter()
                found_rows = await method(conn, args, "US", APRIL[0], APRIL[1], "Apr-2024")
                out[f"summary_{method.__name__}_s"] = time.perf_counter() - started
            assert found_rows is not None and not [r for r in found_rows if r["count"]]
        started = time.perf_counter()
        await conn.fetch(SUMMARY_FLOOR, APRIL[0], APRIL[1])
        out["summary_floor_s"] = time.perf_counter() - started
    return out


async def explain_run(url: str) -> tuple[float, list[tuple[float, str]]]:
    """Cancel the run, then run it again under auto_explain; (seconds, [(ms, plan)])."""
    pool = await create_pool(url, max_size=1)
    try:
        await cancel_run(pool, "JR-00000001")
        await pool.execute("VACUUM ANALYZE pending_transactions")
    finally:
        await pool.close()
    plans: list[tuple[float, str]] = []

    def listen(_conn: Any, message: Any) -> None:
        found = re.match(r"duration: ([\d.]+) ms", message.message)
        if found:
            plans.append((float(found.group(1)), message.message))

    async def setup(conn: Any) -> None:
        conn.add_log_listener(listen)
        await conn.execute("SET client_min_messages = log")  # the pool's init lowered it

    settings = {"session_preload_libraries": "auto_explain", "client_min_messages": "log",
                "auto_explain.log_min_duration": "20", "auto_explain.log_analyze": "on",
                "auto_explain.log_buffers": "on", "auto_explain.log_nested_statements": "on"}
    pool = await asyncpg.create_pool(with_params(url, **settings), min_size=1, max_size=1,
                                     init=_prepare_connection, setup=setup)
    assert pool is not None
    try:
        with warnings.catch_warnings():  # "released to the pool with an active log listener"
            warnings.simplefilter("ignore", asyncpg.InterfaceWarning)
            started = time.perf_counter()
            await create_journal_run(pool, request())
            seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return seconds, sorted(plans, reverse=True)


async def measure(urls: dict[str, str], explain: bool, stamp: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pool = await create_pool(urls["run"], max_size=2)
    try:
        run, out["run_s"], out["run_rss_mb"] = await timed(
            lambda: create_journal_run(pool, request()))
        out["run_transactions"] = run["transaction_count"]
        out["run_entries"] = len(run["journal_entry_numbers"])
        console.print(f"  (a) run: {out['run_s']:.2f}s, {out['run_entries']} entries")
        out |= await summary(pool)
    finally:
        await pool.close()
    console.print(f"  (e) period summary: {out['summary_s']:.3f}s (lines per account "
                  f"{out['summary_accounts_s']:.3f}s, not journaled by counting "
                  f"{out['summary_by_counting_s']:.3f}s, by anti-join "
                  f"{out['summary_by_anti_join_s']:.3f}s, floor {out['summary_floor_s']:.3f}s)")
    out |= await floor(urls["floor"])
    console.print(f"  (b) floor: {out['floor_s']:.2f}s (GROUP BY {out['floor_group_s']:.2f}s, "
                  f"mark {out['floor_mark_s']:.2f}s)")
    pool = await create_pool(urls["single"], max_size=2)
    try:
        single, out["single_run_s"], out["single_run_rss_mb"] = await timed(
            lambda: create_journal_run(pool, request()))
        number = single["journal_entry_numbers"][0]
        out["single_run_entries"] = len(single["journal_entry_numbers"])
        path = RESULTS / f"journal_run-{stamp}-{number}.csv"
        exported, out["export_s"], out["export_rss_mb"] = await timed(
            lambda: export(pool, number, path))
        out["export_transactions"] = exported
        out["export_bytes"] = path.stat().st_size
        path.unlink()
        await set_transfer_status(pool, number, "yes")
        await pool.execute("VACUUM ANALYZE journaled_transactions")
        reversal, out["reversal_s"], out["reversal_rss_mb"] = await timed(
            lambda: reverse_entry(pool, number, APRIL[1]))
        out["reversal_transactions"] = reversal.reversed.released_transaction_count
        out |= await reversal_floor(pool)
    finally:
        await pool.close()
    console.print(f"  (c) one-entry run {out['single_run_s']:.2f}s, export {out['export_s']:.2f}s")
    console.print(f"  (d) reversal {out['reversal_s']:.2f}s, floor "
                  f"{out['reversal_floor_s']:.2f}s")
    out["reversal_ratio"] = out["reversal_s"] / out["reversal_floor_s"]
    out["ratio"] = out["run_s"] / out["floor_s"]
    if explain or out["ratio"] > TARGET_RATIO:
        console.print("  profiling the run under auto_explain ...")
        out["explained_run_s"], plans = await explain_run(urls["run"])
        text = "\n\n".join(p for _, p in plans)
        plan_path = RESULTS / f"journal_run-{stamp}-explain.txt"
        plan_path.write_text(text)
        out["explain_file"] = str(plan_path)
        out["slowest_statements"] = [
            {"ms": ms, "statement": " ".join(p.split("Query Text:")[-1].split()[:14])}
            for ms, p in plans[:10]]
    return out


def report(result: dict[str, Any]) -> None:
    n = result["transactions"]
    t = Table(title=f"journal run over {n:,} pending transactions; targets: run <= "
                    f"{TARGET_RATIO:.0f}x floor and < {TARGET_RUN_S:.0f} s, RSS < "
                    f"{TARGET_RSS_MB:.0f} MB (load average {result['loadavg_before'][0]:.1f} "
                    f"on {os.cpu_count()} cores)")
    for column in ("step", "seconds", "transactions/s", "ratio to floor", "peak RSS MB"):
        t.add_column(column, justify="left" if column == "step" else "right")

    def row(step: str, seconds: float, count: int, rss: float | None, ratio: str = "") -> None:
        t.add_row(step, f"{seconds:.2f}", f"{count / seconds:,.0f}", ratio,
                  "" if rss is None else f"{rss:.0f}")

    ratio = result["ratio"]
    ok = ratio <= TARGET_RATIO and result["run_s"] < TARGET_RUN_S
    row(f"(a) run, {result['run_entries']} entries", result["run_s"],
        result["run_transactions"], result["run_rss_mb"],
        f"[{'green' if ok else 'red'}]{ratio:.2f}x[/]")
    row("(b) floor (GROUP BY + mark)", result["floor_s"], result["floor_transactions"], None,
        "1.00x")
    row("(c) run, 1 entry", result["single_run_s"], n,
        result["single_run_rss_mb"])
    row("(c) CSV export of that entry", result["export_s"],
        result["export_transactions"], result["export_rss_mb"])
    reversal_ok = result["reversal_ratio"] <= TARGET_RATIO
    row("(d) reversal of that entry", result["reversal_s"], result["reversal_transactions"],
        result["reversal_rss_mb"],
        f"[{'green' if reversal_ok else 'red'}]{result['reversal_ratio']:.2f}x[/]")
    row("(d) floor (INSERT ... SELECT of its members)", result["reversal_floor_s"],
        result["reversal_floor_transactions"], None, "1.00x")
    fast = result["summary_s"] < TARGET_SUMMARY_S
    row(f"(e) period summary after (a), {result['summary_entries']} entries "
        f"[{'green' if fast else 'red'}](target < {TARGET_SUMMARY_S:.0f} s)[/]",
        result["summary_s"], result["run_transactions"], None)
    row("(e) its entries' lines per account", result["summary_accounts_s"],
        result["run_transactions"], None)
    for method in ("by_counting", "by_anti_join"):
        seconds = result[f"summary_{method}_s"]
        row(f"(e) its pending, held, excluded {method.replace('_', ' ')}", seconds,
            result["run_transactions"], None, f"{seconds / result['summary_floor_s']:.2f}x")
    row("(e) floor: one pass over the period", result["summary_floor_s"],
        result["run_transactions"], None, "1.00x")
    console.print(t)
    for s in result.get("slowest_statements", []):
        console.print(f"  {s['ms']:>9.0f} ms  {s['statement']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=10, help="transactions per document")
    parser.add_argument("--batch", type=int, default=20_000, help="documents per append")
    parser.add_argument("--database-url", default=LOCAL)
    parser.add_argument("--explain", action="store_true", help="profile the run's statements")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (to dig in)")
    args = parser.parse_args()
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    names = {name: f"{schema}_{name}" for name in ("run", "floor", "single")}
    urls = {name: with_params(args.database_url, search_path=s) for name, s in names.items()}
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {"transactions": args.transactions, "lines": args.lines,
                              "schemas": names, "loadavg_before": os.getloadavg(),
                              "cpu_count": os.cpu_count()}

    async def schemas(sql: str) -> None:
        conn = await asyncpg.connect(args.database_url)
        try:
            result.setdefault("postgres", await conn.fetchval("SHOW server_version"))
            for name in names.values():
                await conn.execute(sql.format(name=name))
        finally:
            await conn.close()

    asyncio.run(schemas('CREATE SCHEMA "{name}"'))
    try:
        console.print(f"loading {args.transactions:,} transactions x 3 datasets (child process)")
        queue: Any = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=load_in_child, args=(urls, args.transactions, args.lines, args.batch, queue))
        child.start()
        while True:
            try:
                result |= queue.get(timeout=1)
                break
            except Empty:
                if not child.is_alive():
                    raise SystemExit(f"loading failed (exit {child.exitcode})") from None
        child.join()
        console.print("measuring")
        result |= asyncio.run(measure(urls, args.explain, stamp))
    finally:
        if not args.keep:
            asyncio.run(schemas('DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    result["loadavg_after"] = os.getloadavg()
    report(result)
    path = RESULTS / f"journal_run-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
