"""More sample billing documents: payments applied to invoices, legacy adjustments and the
demo data set (the journal-run benchmark's documents are bench/documents.py).

Like the invoice generator in ``services.samples``, everything is deterministic for a given
seed: ids, amounts, dates and event ids (uuid5 of the document number) repeat exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services.samples import PRODUCTS, REGIONS, envelope, invoices, seed001_lines

PAYMENTS = "Payments - 10002.000.00"
UNAPPLIED = "Unapplied Payments - 10488.000.00"
RECEIVABLE = "Accounts Receivable"

#: The demo's scopes: org label (None = unlabeled) and its currency.
DEMO_SCOPES: tuple[tuple[str | None, str], ...] = (("US", "USD"), ("EU", "EUR"), (None, "USD"))
#: The demo's months: first day and number of days.
DEMO_MONTHS: tuple[tuple[date, int], ...] = ((date(2024, 4, 1), 30), (date(2024, 5, 1), 31))


def payments_for(
    invoice_events: Sequence[dict[str, Any]],
    *,
    every: int = 2,
    days_after: int = 7,
    last_day: date = date(2024, 5, 31),
    prefix: str = "PAY",
) -> Iterator[dict[str, Any]]:
    """Pay every ``every``-th invoice in full, ``days_after`` its date (none after ``last_day``).

    Each payment is two events, as invoice item settlement records it: ``payment.processed``
    with one ``unapplied`` application item (Dr Payments / Cr Unapplied Payments), then
    ``payment.applied`` with one application item per invoice item (Dr Unapplied Payments /
    Cr Accounts Receivable). Electronic and external payments alternate; each application
    item carries its invoice item's segments.
    """
    for n, invoice in enumerate(invoice_events[::every]):
        document = invoice["data"]["document"]
        items = invoice["data"]["transactions"]
        paid_on = date.fromisoformat(items[0]["date"]) + timedelta(days=days_after)
        if paid_on > last_day:
            continue
        kind = "electronic" if n % 2 == 0 else "external"
        item_type = f"{kind}_payment_application_item"
        number = f"{prefix}-{document['number']}"
        head = {"number": number, "account_number": document["account_number"],
                "currency": document["currency"]}
        total = sum((Decimal(i["amount"]) for i in items), Decimal(0))
        day = paid_on.isoformat()
        unapplied = {
            "id": f"{number}-u", "type": item_type, "subtype": "unapplied", "date": day,
            "status": "processed", "amount": str(total), "debit_account": PAYMENTS,
            "credit_account": UNAPPLIED, "segments": items[0]["segments"],
        }
        applied = [
            {"id": f"{number}-{i}", "type": item_type, "subtype": "invoice_item", "date": day,
             "status": "processed", "amount": item["amount"], "debit_account": UNAPPLIED,
             "credit_account": RECEIVABLE, "segments": item["segments"]}
            for i, item in enumerate(items)
        ]
        org = invoice["org"]
        yield envelope("payment.processed", org, {"document": head, "transactions": [unapplied]},
                       key=f"{number}/processed", occurred=paid_on)
        yield envelope("payment.applied", org, {"document": head, "transactions": applied},
                       key=f"{number}/applied", occurred=paid_on)


def adjustments(
    count: int,
    *,
    currency: str = "USD",
    start: date = date(2024, 4, 10),
    seed: int = 1,
    prefix: str = "ADJ",
) -> Iterator[dict[str, Any]]:
    """Legacy ``adjustment.processed`` events (invoice item and invoice adjustments).

    They carry no org label: under Multi-Org these types are not supported and land in the
    unlabeled scope, held, for the reconciliation report (docs/domain.md §2, seed 003).
    """
    rng = random.Random(seed)
    kinds = ("invoice_item_adjustment_invoice", "invoice_adjustment")
    for n in range(count):
        number = f"{prefix}-{seed}-{n:04d}"
        day = start + timedelta(days=9 * n)
        cents = rng.randint(100, 20_000)
        line = {
            "id": f"{number}-0", "type": kinds[n % len(kinds)], "date": day.isoformat(),
            "status": "processed", "amount": str(Decimal(-cents).scaleb(-2)),
            "debit_account": f"Revenue - {PRODUCTS[n % len(PRODUCTS)]}",
            "credit_account": RECEIVABLE,
            "segments": {"region": REGIONS[rng.randrange(len(REGIONS))]},
        }
        yield envelope(
            "adjustment.processed",
            None,
            {"document": {"number": number, "account_number": f"A{rng.randint(1, 5000):08d}",
                          "currency": currency},
             "transactions": [line]},
            key=number,
            occurred=day,
        )


def demo_events(
    invoices_per_month: int = 40, lines: int = 2, adjustments_per_scope: int = 3
) -> list[dict[str, Any]]:
    """What ``ledger demo`` publishes: seed 001's P-00000003 events, then for US (USD), EU
    (EUR) and the unlabeled scope (USD) invoices in April and May, payments of every other
    invoice a week later (none after May 31, so May's last ones are still open) and a few
    legacy adjustments.

    With the defaults: 3 + 3 x (80 invoices + 2 x 36 payment events + 3 adjustments) = 468
    events; 357 documents besides P-00000003.
    """
    out: list[dict[str, Any]] = [json.loads(line) for line in seed001_lines()]
    for s, (org, currency) in enumerate(DEMO_SCOPES):
        scope_invoices: list[dict[str, Any]] = []
        for m, (first, days) in enumerate(DEMO_MONTHS):
            scope_invoices += invoices(
                invoices_per_month, lines=lines, org=org, start=first, days=days,
                currencies=(currency,), seed=10 * (s + 1) + m, prefix=f"INV{first:%m}",
            )
        out += scope_invoices
        out += payments_for(scope_invoices)
        out += adjustments(adjustments_per_scope, currency=currency, seed=s + 1,
                           prefix=f"ADJ-{org or 'U'}")
    return out

