"""More sample billing documents: payments applied to invoices, legacy adjustments, the demo
data set, and the many-typed documents of the journal-run benchmark.

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


# -- the journal-run benchmark's documents -------------------------------------------------

#: Eight types enabled under invoice item settlement, by the event that carries them, with
#: the accounts they are stamped with (debit, credit).
BENCH_KINDS: tuple[tuple[str, tuple[str, str], tuple[tuple[str, str], ...]], ...] = (
    ("invoice.posted", ("invoice_item", "taxation_item"),
     ((RECEIVABLE, "Revenue"), (RECEIVABLE, "Sales Tax Payable"))),
    ("debit_memo.posted", ("debit_memo_item_charge", "debit_memo_item_tax"),
     ((RECEIVABLE, "Revenue - Debit Memo"), (RECEIVABLE, "Sales Tax Payable"))),
    ("credit_memo.posted", ("credit_memo_item_charge", "credit_memo_item_tax"),
     (("Revenue - Credit Memo", RECEIVABLE), ("Sales Tax Payable", RECEIVABLE))),
    ("payment.applied",
     ("electronic_payment_application_item", "external_payment_application_item"),
     ((UNAPPLIED, RECEIVABLE), (UNAPPLIED, RECEIVABLE))),
)  # fmt: skip
BENCH_TYPES = tuple(t for _, types, _ in BENCH_KINDS for t in types)


def segment_combinations(count: int = 50) -> list[dict[str, str]]:
    """``count`` distinct (region, product) segment maps (5 x 10 = 50 at most)."""
    combos = [{"product": p, "region": r} for r in REGIONS for p in PRODUCTS]
    if not 0 < count <= len(combos):
        raise ValueError(f"between 1 and {len(combos)} segment combinations")
    return combos[:count]


def bench_documents(
    count: int,
    *,
    lines: int = 10,
    org: str = "US",
    first: int = 0,
    start: date = date(2024, 4, 1),
    days: int = 30,
    currencies: tuple[str, ...] = ("USD", "EUR"),
    segments: int = 50,
    kinds: int = len(BENCH_KINDS),
    seed: int = 7,
) -> Iterator[dict[str, Any]]:
    """Documents ``first .. first+count-1`` of ``lines`` lines each, eligible for a run.

    Document ``n`` is of kind ``n % kinds`` (invoice, debit memo, credit memo, payment);
    its lines alternate the kind's two types, each pair of lines takes the next of
    ``segments`` segment combinations, and currencies alternate between the documents of
    a kind: every (type, currency, segments) occurs, so with the defaults a run makes
    8 x 2 x 50 = 800 entries. Statuses are the ones the types require; dates fall in
    ``start .. start+days-1``.
    """
    combos = segment_combinations(segments)
    pairs = max(lines // 2, 1)
    for n in range(first, first + count):
        rng = random.Random(seed * 1_000_003 + n)
        event_type, types, accounts = BENCH_KINDS[n % kinds]
        status = "processed" if event_type == "payment.applied" else "posted"
        number = f"B{n % kinds}-{n:09d}"
        day = (start + timedelta(days=n % days)).isoformat()
        currency = currencies[(n // kinds) % len(currencies)]
        nth = n // kinds // len(currencies)  # documents of this kind and currency so far
        items = []
        for i in range(lines):
            which = i % 2
            items.append({
                "id": f"{number}-{i}", "type": types[which], "date": day, "status": status,
                "amount": str(Decimal(rng.randint(100, 500_000)).scaleb(-2)),
                "debit_account": accounts[which][0], "credit_account": accounts[which][1],
                "segments": combos[(nth * pairs + i // 2) % len(combos)],
            })
        yield envelope(
            event_type,
            org,
            {"document": {"number": number, "account_number": f"A{rng.randint(1, 50_000):08d}",
                          "currency": currency},
             "transactions": items},
            key=f"bench/{seed}/{number}",
            occurred=start,
        )


def single_group_documents(
    count: int, *, lines: int = 10, org: str = "US", first: int = 0, seed: int = 8
) -> Iterator[dict[str, Any]]:
    """Invoices whose every line is one ``invoice_item`` in USD with one segment map: a run
    over them makes exactly one entry holding all ``count * lines`` transactions."""
    combo = segment_combinations(1)[0]
    for n in range(first, first + count):
        rng = random.Random(seed * 1_000_003 + n)
        number = f"S-{n:09d}"
        day = (date(2024, 4, 1) + timedelta(days=n % 30)).isoformat()
        items = [
            {"id": f"{number}-{i}", "type": "invoice_item", "date": day, "status": "posted",
             "amount": str(Decimal(rng.randint(100, 500_000)).scaleb(-2)),
             "debit_account": RECEIVABLE, "credit_account": "Revenue", "segments": combo}
            for i in range(lines)
        ]
        yield envelope(
            "invoice.posted",
            org,
            {"document": {"number": number, "account_number": f"A{rng.randint(1, 50_000):08d}",
                          "currency": "USD"},
             "transactions": items},
            key=f"single/{seed}/{number}",
            occurred=date(2024, 4, 1),
        )
