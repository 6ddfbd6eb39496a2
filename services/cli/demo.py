"""``ledger demo``: the whole pipeline on sample data, from an empty ledger, in seconds.

Settings, orgs and periods through the command handlers; seed 001's payment P-00000003 plus
generated invoices, payments and legacy adjustments published to Kafka; the ingest (in this
process) until every event is stored; the pending set; journal runs for April and May in US
and EU; April's period summary of each org (the month-end close check); the first entry
marked transferred to accounting and reversed on the first day of May (a new entry, lines
swapped; its transactions pending again); the outbox publisher until the outbox is empty;
the journal events read back from the journal topic.

A clean slate every time: the demo works in a fresh PostgreSQL schema ``demo_<time>_<hex>``,
named in the URL as ``?search_path=`` (asyncpg sends unknown URL parameters as server
settings, so every pooled connection lives in it), and drops it at the end unless
``--keep``. A schema rather than a fresh database: it needs only CREATE on the database
(not CREATEDB), is instant, works the same on the embedded cluster and on a shared server,
and two demos (or a demo and a test run) never see each other. The embedded broker is
in-memory and empty on every start; on a configured broker the demo suffixes its topics and
consumer group with the same tag (and deletes the topics afterwards), so it never writes
sample invoices into a real ``billing.events``.

At the end it prints the month-end console's URL and a viewer key for the demo's data. With
``--serve`` it then keeps the HTTP API and the console up (``LEDGER_HTTP_HOST``/``PORT``)
until Ctrl-C; with ``--keep --serve`` the data also stays afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import typer
from aiokafka import TopicPartition
from pydantic import SecretStr
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from events.journal_rules import JournalRunRequest
from services.cli.output import JSON_OPTION, console, handles_errors, print_json, table
from services.cli.summary_view import summary_view
from services.commands.api_keys import create_api_key
from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings
from services.config import Settings, load_settings
from services.embedded import resolved_servers
from services.errors import LedgerError
from services.ingest.app import run_ingest
from services.journal.entries import set_transfer_status
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from services.kafka_io import (
    KAFKA_MESSAGE_CEILING,
    consumer,
    create_topics,
    delete_topics,
    publish_values,
    topic_partitions,
)
from services.operations.status import ingested
from services.period_summary import period_summary
from services.publisher import count_unsent, outbox_event_types, run_publisher
from services.reports import pending_report
from services.samples import to_lines
from services.samples.documents import DEMO_MONTHS, DEMO_SCOPES, demo_events
from services.store.connect import connect
from services.store.pool import create_pool
from services.store.schemas import create_schema, drop_schema

ORGS = ("US", "EU")
RUN_TYPES = ("billing", "cash")
DEADLINE_S = 60.0  # per waiting step; the whole demo takes a few seconds
#: The demo's reversal: of the first entry, dated the first day of the second demo month.
REVERSAL_DATE = DEMO_MONTHS[1][0]


def demo(
    as_json: bool = JSON_OPTION,
    keep: bool = typer.Option(False, "--keep", help="Keep the demo schema (and topics)."),
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the HTTP API and the console on the demo's data "
                               "until Ctrl-C."),
) -> None:
    """The whole pipeline on embedded servers (or the configured ones), with sample data."""
    _demo(as_json=as_json, keep=keep, serve=serve)


@handles_errors()
def _demo(*, as_json: bool, keep: bool, serve: bool = False) -> None:
    started = time.monotonic()
    logging.getLogger("faststream.access.kafka").addFilter(_OffStdout())
    configured = load_settings()
    tag = f"demo_{datetime.now(UTC):%Y%m%dt%H%M%S}_{secrets.token_hex(3)}"
    show = Show(quiet=as_json)
    with contextlib.ExitStack() as stack:
        with show.status("starting servers (embedded ones when LEDGER_* URLs are unset)"):
            servers = stack.enter_context(resolved_servers(configured))
        settings = isolated(configured, servers, tag)
        external_kafka = bool(configured.kafka_bootstrap)
        result = asyncio.run(Demo(settings, servers, tag, show, external_kafka).run(
            keep, serve=serve, started=started, as_json=as_json))
    if serve:
        return  # everything was printed before serving
    report(result, started, as_json=as_json, keep=keep)


def report(result: dict[str, Any], started: float, *, as_json: bool, keep: bool) -> None:
    result["seconds"] = round(time.monotonic() - started, 2)
    if as_json:
        print_json(result)
        return
    counts = result["journal_events"]
    console.print(
        f"[bold green]demo done[/bold green] in {result['seconds']:.1f}s: "
        f"{result['stored']} billing events stored, {len(result['runs'])} journal runs, "
        f"{len(result['entries'])} entries over "
        f"{sum(r['transaction_count'] for r in result['runs'])} transactions, "
        f"{result['reversal']['reversed']['number']} reversed by "
        f"{result['reversal']['entry']['number']}, "
        f"{sum(counts.values())} journal events read back from {result['topics']['journal']}"
        + (f"; schema {result['schema']} kept" if keep else "")
    )
    shown = result["console"]
    console.print(f"[bold]console[/bold]: {shown['url']}  viewer key: {shown['viewer_key']}")
    if not result.get("serving"):
        console.print("  (this demo's data is gone when it ends: run `ledger demo --keep "
                      "--serve` to keep the console up on it until Ctrl-C)")


class _OffStdout(logging.Filter):
    """FastStream's access logger writes to stdout (every batch, at the broker's log level):
    drop it there, and hand errors to the ``ledger.demo`` logger, which writes to stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            logging.getLogger("ledger.demo").handle(record)
        return False


def isolated(configured: Settings, servers: Settings, tag: str) -> Settings:
    """The demo's own schema; its own topics and group on a configured broker; quick group
    joins on the embedded one (Tansu takes half the session timeout to form a group)."""
    update: dict[str, Any] = {
        "database_url": SecretStr(with_search_path(servers.database_dsn(), tag))}
    if configured.kafka_bootstrap:
        update |= {
            "topic_billing": f"{servers.topic_billing}.{tag}",
            "topic_dlq": f"{servers.topic_dlq}.{tag}",
            "topic_journal": f"{servers.topic_journal}.{tag}",
            "consumer_group": f"{servers.consumer_group}.{tag}",
        }
    elif "session_timeout_ms" not in configured.model_fields_set:
        update |= {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}
    update["batch_timeout_ms"] = min(servers.batch_timeout_ms, 100)
    return servers.model_copy(update=update)


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "search_path"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("search_path", schema)])))


class Show:
    """Rich progress for people; nothing at all with ``--json``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def status(self, text: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext() if self.quiet else console.status(text)

    @contextlib.contextmanager
    def step(self, title: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; the callable sets how much of ``total`` is done."""
        with Progress(SpinnerColumn(), TextColumn("{task.description:<44}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      disable=self.quiet) as progress:
            task = progress.add_task(title, total=total)
            yield lambda done: progress.update(task, completed=done)

    def print(self, *things: Any) -> None:
        if not self.quiet:
            console.print(*things)


class Demo:
    def __init__(
        self, settings: Settings, servers: Settings, tag: str, show: Show, external_kafka: bool
    ) -> None:
        self.settings = settings
        self.tag = tag
        self.show = show
        self.server_url: str = servers.database_dsn()
        self.external_kafka = external_kafka

    @property
    def topics(self) -> list[str]:
        s = self.settings
        return [s.topic_billing, s.topic_dlq, s.topic_journal]

    async def run(self, keep: bool, *, serve: bool = False, started: float = 0.0,
                  as_json: bool = False) -> dict[str, Any]:
        admin = await connect(self.server_url)
        try:
            await create_schema(admin, self.tag)
            try:
                await create_demo_topics(self.settings, self.topics,
                                         self.settings.topic_partitions)
                pool = await create_pool(self.settings.database_dsn(), max_size=4,
                                         run_migrations=True)
                try:
                    result = await self.steps(pool) | {"schema": self.tag, "kept": keep,
                                                       "serving": serve}
                    result["console"] = await self.console_access(pool)
                    if serve:
                        report(dict(result), started, as_json=as_json, keep=keep)
                        await self.serve(pool)
                    return result
                finally:
                    await pool.close()
            finally:
                if not keep:
                    await drop_schema(admin, self.tag)
                    if self.external_kafka:  # best effort: leftovers are demo-named
                        await delete_topics(self.settings, self.topics)
        finally:
            await admin.close()

    async def console_access(self, pool: asyncpg.Pool) -> dict[str, str]:
        """The console's URL and a viewer key for this demo's data (a key of its schema)."""
        key = await create_api_key(pool, "demo-viewer", "viewer")
        host = self.settings.http_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return {"url": f"http://{shown}:{self.settings.http_port}/console/",
                "viewer_key": key["token"]}

    async def serve(self, pool: asyncpg.Pool) -> None:
        """The HTTP API and the console on the demo's data until Ctrl-C (or SIGTERM)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            self.show.print(f"serving the API and the console on "
                            f"{self.settings.http_host}:{self.settings.http_port}: Ctrl-C stops")
            from services.api.server import run_api  # FastAPI loads only when serving it

            await run_api(self.settings, pool, stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    async def steps(self, pool: asyncpg.Pool) -> dict[str, Any]:
        await self.set_up(pool)
        events = demo_events()
        stored = await self.publish_and_ingest(pool, events)
        pending = await pending_report(pool)
        self.show.print(pending_table(pending))
        runs, entries = await self.journal_runs(pool)
        for run in runs:
            self.show.print(entries_table(run, [e for e in entries
                                                if e["journal_run"] == run["number"]]))
        summaries = [await period_summary(pool, f"{DEMO_MONTHS[0][0]:%b-%Y}", org)
                     for org in ORGS]  # the month-end close check of April
        for summary in summaries:
            self.show.print(summary_view(summary))
        reversal = await self.reverse_one(pool, entries[0]["number"])
        outbox = await self.publish_outbox(pool)
        read = await self.read_back(outbox)
        counts: dict[str, int] = {}
        for message in read:
            counts[message["event_type"]] = counts.get(message["event_type"], 0) + 1
        self.show.print(table(f"journal events read back from {self.settings.topic_journal}",
                              ["event type", "count"], [[k, v] for k, v in sorted(counts.items())]))
        return {
            "topics": {"billing": self.settings.topic_billing, "dlq": self.settings.topic_dlq,
                       "journal": self.settings.topic_journal},
            "published": len(events),
            "stored": stored,
            "pending": pending,
            "runs": runs,
            "entries": entries,
            "summaries": summaries,
            "reversal": reversal,
            "journal_events": counts,
        }

    async def set_up(self, pool: asyncpg.Pool) -> None:
        commands: list[Callable[[], Awaitable[Any]]] = [functools.partial(
            set_settings, pool, {"settlement": "invoice_item_settlement", "multi_org": "true"})]
        commands += [functools.partial(create_org, pool, org) for org in ORGS]
        commands += [
            functools.partial(
                create_period, pool, org=org, name=f"{first:%b-%Y}", start=first,
                end=date(first.year, first.month, days), fiscal_year=first.year,
                fiscal_quarter=(first.month - 1) // 3 + 1)
            for org, _ in DEMO_SCOPES for first, days in DEMO_MONTHS
        ]
        with self.show.step("settings, orgs US and EU, periods", len(commands)) as done:
            for n, command in enumerate(commands, 1):
                await command()
                done(n)

    async def publish_and_ingest(self, pool: asyncpg.Pool, events: list[dict[str, Any]]) -> int:
        """Publish, run the ingest as a task, poll the store until every event is in."""
        values = to_lines(events)
        ids = [e["event_id"] for e in events]
        with self.show.step(f"publishing to {self.settings.topic_billing}", len(values)) as done:
            sent = 0

            def on_sent(n: int) -> None:
                nonlocal sent
                sent += n
                done(sent)

            await publish_values(self.settings, self.settings.topic_billing, values, on_sent)
        stop = asyncio.Event()
        ingest = asyncio.create_task(run_ingest(self.settings, pool, stop))
        try:
            with self.show.step("ingest: storing billing events", len(ids)) as done:
                stored = 0
                deadline = time.monotonic() + DEADLINE_S
                while stored < len(ids):
                    stored, rejected = await ingested(pool, ids)
                    done(stored)
                    if stored + rejected >= len(ids) and rejected:
                        raise LedgerError("demo_events_rejected",
                                          f"{rejected} demo events went to the DLQ")
                    if time.monotonic() > deadline:
                        raise LedgerError("demo_ingest_timeout",
                                          f"only {stored} of {len(ids)} events stored")
                    await asyncio.wait({ingest}, timeout=0.05)  # poll; wakes if it dies
                    if ingest.done():
                        ingest.result()  # re-raises what stopped it
                        raise LedgerError("demo_ingest_stopped", "the ingest stopped early")
        finally:
            stop.set()
            await ingest
        return stored

    async def journal_runs(
        self, pool: asyncpg.Pool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        requests = [JournalRunRequest(types=RUN_TYPES, org=org, period=f"{first:%b-%Y}")
                    for org in ORGS for first, _ in DEMO_MONTHS]
        runs: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        with self.show.step("journal runs (billing, cash)", len(requests)) as done:
            for n, request in enumerate(requests, 1):
                run = await create_journal_run(pool, request)
                runs.append(run.document())
                entries += [e.document() for e in await list_entries(pool, run=run.number)]
                done(n)
        return runs, entries

    async def reverse_one(self, pool: asyncpg.Pool, number: str) -> dict[str, Any]:
        """What month-end does with an entry already in the GL: the GL integration marks it
        transferred, and an operator reverses it (it can no longer be cancelled)."""
        with self.show.step(f"{number}: transferred, then reversed", 2) as done:
            transferred = (await set_transfer_status(pool, number, "yes")).document()
            done(1)
            reversal = await reverse_entry(pool, number, REVERSAL_DATE)
            done(2)
        reversed_ = reversal.reversed.model_dump(mode="json")
        entry = reversal.entry.model_dump(mode="json")
        self.show.print(entries_table(
            {}, [entry], title=f"{entry['number']} reverses {number} (transferred), dated "
                               f"{entry['journal_entry_date']}: "
                               f"{reversed_['released_transaction_count']} transactions pending "
                               "again"))
        return {"transferred": transferred, "reversed": reversed_, "entry": entry}

    async def publish_outbox(self, pool: asyncpg.Pool) -> dict[str, str]:
        """Relay the outbox until it is empty; return its event ids and types."""
        outbox = await outbox_event_types(pool)
        stop = asyncio.Event()
        relay = asyncio.create_task(run_publisher(pool, self.settings,
                                                  self.settings.topic_journal, stop))
        try:
            with self.show.step(f"publisher: outbox to {self.settings.topic_journal}",
                                len(outbox)) as done:
                deadline = time.monotonic() + DEADLINE_S
                while unsent := await count_unsent(pool):
                    done(len(outbox) - unsent)
                    if time.monotonic() > deadline:
                        raise LedgerError("demo_publisher_timeout", f"{unsent} events unsent")
                    await asyncio.wait({relay}, timeout=0.05)
                    if relay.done():
                        relay.result()
                        raise LedgerError("demo_publisher_stopped", "the publisher stopped")
                done(len(outbox))
        finally:
            stop.set()
            await relay
        return outbox

    async def read_back(self, outbox: dict[str, str]) -> list[dict[str, Any]]:
        title = f"reading {self.settings.topic_journal}"
        with self.show.step(title, len(outbox)) as done:
            found = await read_journal(self.settings, self.settings.topic_journal,
                                       set(outbox), done)
        if len(found) < len(outbox):
            raise LedgerError("demo_read_back_incomplete",
                              f"{len(found)} of {len(outbox)} journal events read back")
        return found


async def create_demo_topics(settings: Settings, names: list[str], partitions: int) -> None:
    failed = await create_topics(settings, names, partitions)
    if failed:
        name, code = next(iter(failed.items()))
        raise LedgerError("demo_topic_failed", f"cannot create {name}: error {code}")


async def read_journal(
    settings: Settings, topic: str, wanted: set[str], done: Callable[[int], None]
) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning (no group) until every wanted event id is seen."""
    reader = consumer(
        settings, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=KAFKA_MESSAGE_CEILING,
        fetch_max_bytes=4 * KAFKA_MESSAGE_CEILING,
    )
    partitions = await topic_partitions(settings, topic)
    await reader.start()
    try:
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        reader.assign(assignment)
        await reader.seek_to_beginning(*assignment)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(found) < len(wanted) and time.monotonic() < deadline:
            batches = await reader.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    message = json.loads(record.value)
                    if message.get("event_id") in wanted:
                        found[message["event_id"]] = message
            done(len(found))
        return list(found.values())
    finally:
        await reader.stop()


def pending_table(rows: list[dict[str, Any]]) -> Table:
    return table(
        "pending transactions",
        ["org", "type", "period", "currency", "state", "reason", "count", "amount"],
        [[r["org"] or "(unlabeled)", r["transaction_type"], r["period"], r["currency"],
          r["state"], r["reason"], r["count"], r["amount"]] for r in rows],
    )


def entries_table(
    run: dict[str, Any], entries: list[dict[str, Any]], title: str | None = None
) -> Table:
    """One run's entries (or those ``title`` names), one row per line, debit and credit
    columns, totals in the footer."""
    debit = sum((Decimal(e["total_debit"]) for e in entries), Decimal(0))
    credit = sum((Decimal(e["total_credit"]) for e in entries), Decimal(0))
    if title is None:
        title = (f"{run['number']}  {run['org']}  {run['target']['period']}  "
                 f"{run['transaction_count']} transactions, {len(entries)} entries")
    t = Table(title=title, show_footer=True)
    for name, footer in (("entry", ""), ("type", ""), ("cur", ""), ("segments", ""), ("n", ""),
                         ("account", "total"), ("debit", str(debit)), ("credit", str(credit))):
        right = name in ("n", "debit", "credit")
        t.add_column(name, footer=footer, justify="right" if right else "left")
    for e in entries:
        segments = " ".join(f"{k}={v}" for k, v in sorted(e["segments"].items())) or "-"
        for i, line in enumerate(e["lines"]):
            head = [e["number"], e["transaction_type"], e["currency"], segments,
                    str(e["transaction_count"])] if i == 0 else [""] * 5
            amount = line["amount"]
            t.add_row(*head, line["account"], amount if line["side"] == "debit" else "",
                      amount if line["side"] == "credit" else "",
                      end_section=i == len(e["lines"]) - 1)
    return t
