"""The parse pool: a worker process checks a batch exactly as the ingest process would, and a
worker that dies costs no batch."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from events import (
    INVALID_JSON,
    INVALID_PAYLOAD,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    ContractError,
    canonical_body,
)
from events import parse_billing_event as parse
from services.ingest.classify import CheckedEvent, Parsed, check_values, parse_all
from services.ingest.parse_pool import ParsePool, pack_checked, unpack_checked
from services.ingest.records import InboundRecord
from services.samples import invoices, to_lines

MAX_BYTES = 4096
REPO = Path(__file__).resolve().parents[2]


def batch() -> list[InboundRecord]:
    good = to_lines(invoices(6, lines=2, org="US", seed=7))
    bad_amount = json.loads(good[0])
    bad_amount["event_id"] = "5a0c1b43-0a41-4c2e-9d0e-3f0d8c3b8f11"
    bad_amount["data"]["transactions"][0]["amount"] = "12,50"
    values = [
        good[0],
        b"{not json",
        good[1],
        json.dumps(bad_amount).encode(),
        b'{"event_id": "5a0c1b43-0a41-4c2e-9d0e-3f0d8c3b8f12", "event_type": "invoice.voided",'
        b' "occurred_at": "2024-04-01T00:00:00Z", "data": {}}',
        b"x" * (MAX_BYTES + 1),
        *good[2:],
    ]
    return [InboundRecord("billing.events", 0, offset, b"US", v) for offset, v in enumerate(values)]


def outcome(parsed: list[Parsed]) -> list[tuple[int, str, object]]:
    return [
        (p.record.offset, p.error.code, p.error.field) if p.error is not None
        else (p.record.offset, "ok", p.event)
        for p in parsed
    ]


@pytest.fixture
def one_worker() -> Iterator[ParsePool]:
    pool = ParsePool(workers=1, max_bytes=MAX_BYTES)
    yield pool
    pool.close()


async def test_a_worker_checks_a_batch_exactly_as_this_process_does(one_worker: ParsePool) -> None:
    records = batch()
    from_worker = await one_worker.parse(records)
    here = parse_all(records, MAX_BYTES)

    assert outcome(from_worker) == outcome(here)
    assert [code for _, code, _ in outcome(from_worker)] == [
        "ok", INVALID_JSON, "ok", INVALID_PAYLOAD, UNKNOWN_EVENT_TYPE, TOO_LARGE,
        "ok", "ok", "ok", "ok",
    ]
    first = from_worker[0].event
    assert first is not None
    event = parse(records[0].value)
    assert first.event_id == event.event_id and isinstance(first.event_id, UUID)
    assert first.body == canonical_body(event)
    assert first.digest == hashlib.sha256(canonical_body(event)).digest()
    assert first.stream == f"document:{event.data.document.number}"  # type: ignore[union-attr]
    assert first.keys == tuple((t.type, t.id) for t in event.data.transactions)  # type: ignore[union-attr]
    assert (first.event_type, first.org, first.status_change) == ("invoice.posted", "US", False)
    assert from_worker[3].error is not None
    assert from_worker[3].error.field == "data.transactions[0].amount"


@pytest.mark.parametrize(
    "offsets", [[], [1], [1, 5], [0], [0, 2, 6, 9], list(range(10))],
    ids=["empty", "one refusal", "refusals only", "one event", "events only", "mixed"],
)
def test_packing_for_the_hand_back_keeps_every_result_in_its_place(offsets: list[int]) -> None:
    records = batch()
    checked = check_values([records[offset].value for offset in offsets], MAX_BYTES)

    unpacked = unpack_checked(pack_checked(checked))

    assert [type(c) for c in unpacked] == [type(c) for c in checked]
    for back, before in zip(unpacked, checked, strict=True):
        if isinstance(before, ContractError):
            assert isinstance(back, ContractError)
            assert (back.code, back.detail, back.field) == (before.code, before.detail,
                                                            before.field)
        else:
            assert back == before
            assert isinstance(back, CheckedEvent) and isinstance(back.event_id, UUID)


async def test_two_workers_keep_the_batch_in_order() -> None:
    pool = ParsePool(workers=2, max_bytes=MAX_BYTES)
    try:
        records = batch()
        assert outcome(await pool.parse(records)) == outcome(parse_all(records, MAX_BYTES))
    finally:
        pool.close()


async def test_a_dead_worker_is_replaced_and_its_batch_still_checked(
    one_worker: ParsePool,
) -> None:
    records = batch()
    await one_worker.parse(records[:1])  # the worker is up
    executor = one_worker._executor
    assert executor is not None
    pids = list(executor._processes)  # the test kills the worker it started
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)

    after_kill = await one_worker.parse(records)
    assert outcome(after_kill) == outcome(parse_all(records, MAX_BYTES))
    assert one_worker._executor is not executor

    again = await one_worker.parse(records)  # the new worker
    assert outcome(again) == outcome(after_kill)
    assert one_worker._executor is not None
    assert list(one_worker._executor._processes) != pids


async def test_no_workers_checks_in_this_process() -> None:
    pool = ParsePool(workers=0, max_bytes=MAX_BYTES)
    records = batch()
    assert pool._executor is None
    assert outcome(await pool.parse(records)) == outcome(parse_all(records, MAX_BYTES))
    assert await pool.parse([]) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_worker_leaves_stopping_to_its_parent(one_worker: ParsePool, sig: int) -> None:
    """A service manager's SIGTERM, or Ctrl-C, reaches the whole process group: the worker
    stays for the batch in hand and the pool is not rebuilt."""
    records = batch()
    await one_worker.parse(records[:1])
    executor = one_worker._executor
    assert executor is not None
    (pid,) = list(executor._processes)
    os.kill(pid, sig)

    assert outcome(await one_worker.parse(records)) == outcome(parse_all(records, MAX_BYTES))
    assert one_worker._executor is executor
    assert list(executor._processes) == [pid]


#: The shape of the script pip writes for a console-script entry point ``module:function``.
CONSOLE_SCRIPT = """\
import sys
from {module} import {function}
if __name__ == "__main__":
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        print(pool.submit(eval, {probe!r}).result())
"""
HEAVY = ("fastapi", "rich", "typer")


def test_a_worker_spawned_by_the_ledger_script_does_not_load_the_cli(tmp_path: Path) -> None:
    # spawn runs the parent's main script again in every worker; for ``ledger serve`` that
    # is the console script, whose import must therefore not load the CLI (~20 MB, 0.5 s).
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["ledger"].split(":")
    probe = f"sorted(m for m in {HEAVY!r} if m in __import__('sys').modules)"
    script = tmp_path / "ledger"
    script.write_text(CONSOLE_SCRIPT.format(module=module, function=function, probe=probe))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stderr
