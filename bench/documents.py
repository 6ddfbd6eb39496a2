"""The journal-run benchmark's documents: eight transaction types in four kinds of document
across 50 segment combinations and two currencies, and single-group invoices whose run makes
one entry.

Like the sample generators in ``services.samples``, everything is deterministic for a given
seed: ids, amounts, dates and event ids (uuid5 of the document number) repeat exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services.samples import PRODUCTS, REGIONS, envelope
from services.samples.documents import RECEIVABLE, UNAPPLIED

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
