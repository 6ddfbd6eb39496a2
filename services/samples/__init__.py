"""Sample billing events: seed 001's P-00000003 records and generated documents.

Used by ``ledger demo``, the tests and the benchmarks. Generated data is deterministic for a
given seed so a benchmark run can be repeated exactly.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

SAMPLE_NAMESPACE = uuid.UUID("5d0e8c1a-7a47-4a3b-8a0f-3f6f2f1d9c11")

REGIONS = ("NA", "EMEA", "APAC", "LATAM", "ANZ")
PRODUCTS = ("core", "addon", "support", "training", "services", "hardware", "data", "api",
            "mobile", "web")


def seed001_lines() -> list[bytes]:
    """The three billing events of seed 001 (payment P-00000003), as published bytes."""
    text = (resources.files("services.samples") / "seed001-payment.jsonl").read_text("utf-8")
    return [line.encode() for line in text.splitlines() if line.strip()]


def seed001_expected() -> dict[str, Any]:
    text = (resources.files("services.samples") / "seed001-expected.json").read_text("utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def envelope(
    event_type: str, org: str | None, data: dict[str, Any], *, key: str, occurred: date
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(SAMPLE_NAMESPACE, key)),
        "event_type": event_type,
        "occurred_at": f"{occurred.isoformat()}T12:00:00Z",
        "org": org,
        "schema_version": 1,
        "data": data,
    }


def invoices(
    count: int,
    *,
    lines: int = 1,
    org: str | None = "US",
    start: date = date(2024, 4, 1),
    days: int = 30,
    currencies: tuple[str, ...] = ("USD",),
    seed: int = 1,
    prefix: str = "INV",
) -> Iterator[dict[str, Any]]:
    """``invoice.posted`` events with ``lines`` invoice items each, dated in ``days``."""
    rng = random.Random(seed)
    for n in range(count):
        number = f"{prefix}-{org or 'U'}-{seed}-{n:08d}"
        day = start + timedelta(days=n % days)
        items = []
        for i in range(lines):
            cents = rng.randint(100, 500_000)
            items.append(
                {
                    "id": f"{number}-{i}",
                    "type": "invoice_item",
                    "subtype": "charge",
                    "date": day.isoformat(),
                    "status": "posted",
                    "amount": str(Decimal(cents).scaleb(-2)),
                    "debit_account": "Accounts Receivable",
                    "credit_account": f"Revenue - {PRODUCTS[i % len(PRODUCTS)]}",
                    "segments": {"region": REGIONS[rng.randrange(len(REGIONS))]},
                }
            )
        yield envelope(
            "invoice.posted",
            org,
            {
                "document": {
                    "number": number,
                    "account_number": f"A{rng.randint(1, 5000):08d}",
                    "currency": currencies[n % len(currencies)],
                },
                "transactions": items,
            },
            key=number,
            occurred=day,
        )


def to_lines(events: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(e, separators=(",", ":")).encode() for e in events]
