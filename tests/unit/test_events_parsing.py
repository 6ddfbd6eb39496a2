"""Inbound messages: seed 001 parses exactly; every bad input gets its code and field."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from events import (
    INVALID_ENVELOPE,
    INVALID_JSON,
    INVALID_PAYLOAD,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    BillingDocumentEvent,
    ContractError,
    Document,
    StatusChange,
    StatusChangedEvent,
    TransactionLine,
    body_hash,
    canonical_body,
    parse_billing_event,
)

REPO = Path(__file__).resolve().parents[2]
SEED = next(
    folder / "seed001-payment.jsonl"
    for folder in (REPO.parent / "shared" / "data", REPO / "services" / "samples")
    if (folder / "seed001-payment.jsonl").exists()
)
SEED_LINES = SEED.read_bytes().splitlines()

SEED_AMOUNTS = {
    "8a3699608006200180142be0035f5": Decimal("10"),
    "8a368aeb800478018014b95455a": Decimal("3.25"),
    "8a368aeb800478018f014b9e545f5b": Decimal("6.75"),
    "8a368aeb8f00478f018f01469e545f5d": Decimal("-10"),
    "8a3694f18f4d3ea5018f5de45f787661": Decimal("-3.25"),
    "8a3694f184d3ea5018f5de45787b62": Decimal("-6.75"),
    "8a3694f18f4d3ea5018f5de45f797664": Decimal("10"),
}


def message(**changes: Any) -> dict[str, Any]:
    """The +3.25/+6.75/-10 payment.applied event of seed 001, as a dict to break."""
    base: dict[str, Any] = json.loads(SEED_LINES[1])
    base.update(changes)
    return base


def encode(msg: Any) -> bytes:
    return json.dumps(msg).encode()


def line_with(**changes: Any) -> bytes:
    msg = message()
    msg["data"]["transactions"][0].update(changes)
    return encode(msg)


def document_event(event_type: str, line: dict[str, Any]) -> bytes:
    msg = message(event_type=event_type)
    msg["data"]["transactions"] = [line]
    return encode(msg)


def rejected(raw: bytes, **kwargs: Any) -> ContractError:
    with pytest.raises(ContractError) as caught:
        parse_billing_event(raw, **kwargs)
    return caught.value


def assert_rejected(raw: bytes, code: str, field: str | None) -> ContractError:
    error = rejected(raw)
    assert (error.code, error.field) == (code, field), error.detail
    assert str(error) == f"{code}: {error.detail}"
    return error


# --- the seed parses, exactly --------------------------------------------------------


def test_every_seed_line_parses_with_exact_amounts_and_inherited_fields() -> None:
    seen = {}
    for raw in SEED_LINES:
        event = parse_billing_event(raw)
        assert isinstance(event, BillingDocumentEvent)
        assert event.org == "US"
        assert event.schema_version == 1
        assert event.occurred_at.tzinfo is not None
        for line in event.data.transactions:
            assert line.currency == "USD"
            assert line.document_number == "P-00000003"
            assert line.account_number == "A00000001"
            assert line.type == "electronic_payment_application_item"
            assert line.status == "processed"
            assert line.segments == {}
            assert type(line.amount) is Decimal
            seen[line.id] = line.amount
    assert seen == SEED_AMOUNTS
    # Decimal("10") == Decimal("10.00"): compare the exact spelling too.
    assert {k: str(v) for k, v in seen.items()} == {k: str(v) for k, v in SEED_AMOUNTS.items()}


def test_seed_event_types_and_dates() -> None:
    events = [parse_billing_event(raw) for raw in SEED_LINES]
    assert [e.event_type for e in events] == [
        "payment.processed", "payment.applied", "payment.unapplied",
    ]
    assert events[0].event_id == UUID("00000000-0000-0000-0000-000000000001")
    assert events[1].occurred_at == datetime(2024, 4, 21, 11, 34, tzinfo=UTC)
    assert isinstance(events[2], BillingDocumentEvent)
    assert {line.date for line in events[2].data.transactions} == {date(2024, 5, 9)}


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0.1", "0.1"),
        ("1234567890.123456789012", "1234567890.123456789012"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
        ("-0.30", "-0.30"),
        ("10", "10"),
        ("1e3", "1E+3"),
        ("2.5E-7", "2.5E-7"),
    ],
)
def test_json_numbers_stay_exact(literal: str, expected: str) -> None:
    raw = SEED_LINES[1].replace(b'"3.25"', literal.encode())
    event = parse_billing_event(raw)
    assert isinstance(event, BillingDocumentEvent)
    amount = event.data.transactions[0].amount
    assert type(amount) is Decimal
    assert str(amount) == expected
    # Through a float, 0.1 would be 0.1000000000000000055511151231257827021181583404541015625.
    assert amount == Decimal(literal)


def test_float_path_would_have_lost_precision() -> None:
    # The guard of the test above: these literals do not survive a binary float.
    assert Decimal(float("1234567890.123456789012")) != Decimal("1234567890.123456789012")
    assert Decimal(float("0.1")) != Decimal("0.1")


@pytest.mark.parametrize("literal", ["0.1", "-12.50", "12345678901234567890.123456789"])
def test_decimal_strings_stay_exact(literal: str) -> None:
    event = parse_billing_event(line_with(amount=literal))
    assert isinstance(event, BillingDocumentEvent)
    assert str(event.data.transactions[0].amount) == literal


def test_line_sets_its_own_currency_and_account() -> None:
    event = parse_billing_event(line_with(currency="eur", account_number="A-2"))
    assert isinstance(event, BillingDocumentEvent)
    first, second = event.data.transactions[:2]
    assert (first.currency, first.account_number) == ("EUR", "A-2")
    assert (second.currency, second.account_number) == ("USD", "A00000001")


def test_null_currency_inherits() -> None:
    event = parse_billing_event(line_with(currency=None))
    assert isinstance(event, BillingDocumentEvent)
    assert event.data.transactions[0].currency == "USD"


def test_revenue_event_item_may_have_blank_accounts() -> None:
    raw = document_event(
        "revenue.recognized",
        {"id": "R1", "type": "revenue_event_item", "date": "2024-04-30", "status": "posted",
         "amount": "5", "debit_account": None, "credit_account": "",
         "accounting_period": "Apr-2024", "recognition_rule": "Recognize upon invoicing",
         "segments": {"region": "NA", "product": "P1"}},
    )
    event = parse_billing_event(raw)
    assert isinstance(event, BillingDocumentEvent)
    line = event.data.transactions[0]
    assert (line.debit_account, line.credit_account) == ("", "")
    assert line.accounting_period == "Apr-2024"
    assert list(line.segments) == ["product", "region"]


@pytest.mark.parametrize("rule", [None, "Ratable", "Recognize daily over time"])
@pytest.mark.parametrize("account", ["debit_account", "credit_account"])
def test_a_revenue_event_item_journaled_under_another_rule_needs_both_accounts(
    rule: str | None, account: str
) -> None:
    # Only "recognize upon invoicing" excludes an item with a blank account. Under any other
    # rule the item is journaled, and its blank account made an entry line the outbound
    # model refuses: reversing that entry, or reading it over HTTP, failed with a
    # ValidationError (found by tests/integration/test_journal_properties.py).
    line = {"id": "R1", "type": "revenue_event_item", "date": "2024-04-30",
            "status": "posted", "amount": "5", "debit_account": "Deferred Revenue",
            "credit_account": "Revenue", "accounting_period": "Apr-2024",
            "recognition_rule": rule, account: " "}
    error = assert_rejected(document_event("revenue.recognized", line), INVALID_PAYLOAD,
                            f"data.transactions[0].{account}")
    assert "only a revenue_event_item recognized upon invoicing" in error.detail


def test_revenue_event_item_needs_its_accounting_period() -> None:
    raw = document_event(
        "revenue.recognized",
        {"id": "R1", "type": "revenue_event_item", "date": "2024-04-30", "status": "posted",
         "amount": "5", "debit_account": "Deferred", "credit_account": "Revenue"},
    )
    assert_rejected(raw, INVALID_PAYLOAD, "data.transactions[0].accounting_period")


def test_status_changed_event() -> None:
    raw = encode(
        message(
            event_type="transactions.status_changed",
            data={"changes": [{"type": "invoice_item", "id": "II-1", "status": "canceled"}]},
        )
    )
    event = parse_billing_event(raw)
    assert isinstance(event, StatusChangedEvent)
    assert event.data.changes[0] == StatusChange(type="invoice_item", id="II-1", status="canceled")


def test_org_may_be_null_or_absent() -> None:
    assert parse_billing_event(encode(message(org=None))).org is None
    msg = message()
    del msg["org"]
    assert parse_billing_event(encode(msg)).org is None


def test_exactly_max_bytes_is_accepted() -> None:
    raw = SEED_LINES[0]
    assert parse_billing_event(raw, max_bytes=len(raw)).event_type == "payment.processed"


# --- bad input: code and field ---------------------------------------------------------


def _mutated(change: Callable[[dict[str, Any]], object]) -> bytes:
    msg = message()
    change(msg)
    return encode(msg)


def _line0(msg: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = msg["data"]["transactions"][0]
    return line


AMOUNT = "data.transactions[0].amount"
DATE = "data.transactions[0].date"

BAD_INPUTS: list[tuple[str, bytes, str, str | None]] = [
    ("not json", b"{not json", INVALID_JSON, None),
    ("empty", b"", INVALID_JSON, None),
    ("trailing garbage", SEED_LINES[0] + b" x", INVALID_JSON, None),
    ("non-utf8 bytes", b'{"event_id": "\xff\xfe"}', INVALID_JSON, None),
    ("utf-16 json", SEED_LINES[0].decode().encode("utf-16"), INVALID_JSON, None),
    ("utf-8 bom", b"\xef\xbb\xbf" + SEED_LINES[0], INVALID_JSON, None),
    ("NUL in a string", SEED_LINES[0].replace(b'"US"', b'"U\\u0000S"'), INVALID_JSON, "org"),
    ("lone surrogate", SEED_LINES[0].replace(b'"US"', b'"\\ud800"'), INVALID_JSON, "org"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, INVALID_JSON, None),
    ("huge integer", SEED_LINES[0].replace(b'"10"', b"9" * 5000), INVALID_JSON, None),
    ("json array", b"[1, 2]", INVALID_ENVELOPE, None),
    ("json string", b'"hello"', INVALID_ENVELOPE, None),
    ("json null", b"null", INVALID_ENVELOPE, None),
    ("missing event_id", _mutated(lambda m: m.pop("event_id")), INVALID_ENVELOPE, "event_id"),
    ("bad uuid", encode(message(event_id="not-a-uuid")), INVALID_ENVELOPE, "event_id"),
    ("numeric event_id", encode(message(event_id=12)), INVALID_ENVELOPE, "event_id"),
    ("naive occurred_at", encode(message(occurred_at="2024-04-21T11:34:00")),
     INVALID_ENVELOPE, "occurred_at"),
    ("numeric occurred_at", encode(message(occurred_at=1713698040)),
     INVALID_ENVELOPE, "occurred_at"),
    ("bad envelope and bad payload", _mutated(
        lambda m: (m.update(event_id="nope"), _line0(m).update(amount="x"))),
     INVALID_ENVELOPE, "event_id"),
    ("missing occurred_at", _mutated(lambda m: m.pop("occurred_at")),
     INVALID_ENVELOPE, "occurred_at"),
    ("empty org", encode(message(org="")), INVALID_ENVELOPE, "org"),
    ("schema_version 2", encode(message(schema_version=2)), INVALID_ENVELOPE, "schema_version"),
    ("data is a list", encode(message(data=[])), INVALID_ENVELOPE, "data"),
    ("data missing", _mutated(lambda m: m.pop("data")), INVALID_ENVELOPE, "data"),
    ("unknown top-level key", encode(message(evnt_type="x")), INVALID_ENVELOPE, "evnt_type"),
    ("missing event_type", _mutated(lambda m: m.pop("event_type")),
     INVALID_ENVELOPE, "event_type"),
    ("numeric event_type", encode(message(event_type=7)), INVALID_ENVELOPE, "event_type"),
    ("unknown event_type", encode(message(event_type="payment.bounced")),
     UNKNOWN_EVENT_TYPE, "event_type"),
    ("unknown type, bad envelope", encode(message(event_type="x.y", event_id="nope")),
     INVALID_ENVELOPE, "event_id"),
    ("line type not allowed", line_with(type="invoice_item"),
     INVALID_PAYLOAD, "data.transactions[0].type"),
    ("unknown line type", line_with(type="invoice"), INVALID_PAYLOAD, "data.transactions[0].type"),
    ("amount 12,50", line_with(amount="12,50"), INVALID_PAYLOAD, AMOUNT),
    ("amount abc", line_with(amount="abc"), INVALID_PAYLOAD, AMOUNT),
    ("amount empty", line_with(amount=""), INVALID_PAYLOAD, AMOUNT),
    ("amount padded", line_with(amount=" 1.5"), INVALID_PAYLOAD, AMOUNT),
    ("amount underscores", line_with(amount="1_000"), INVALID_PAYLOAD, AMOUNT),
    ("amount string NaN", line_with(amount="NaN"), INVALID_PAYLOAD, AMOUNT),
    ("amount string Infinity", line_with(amount="Infinity"), INVALID_PAYLOAD, AMOUNT),
    ("amount bare NaN", SEED_LINES[1].replace(b'"3.25"', b"NaN"), INVALID_PAYLOAD, AMOUNT),
    ("amount bare -Infinity", SEED_LINES[1].replace(b'"3.25"', b"-Infinity"),
     INVALID_PAYLOAD, AMOUNT),
    ("amount true", line_with(amount=True), INVALID_PAYLOAD, AMOUNT),
    ("amount null", line_with(amount=None), INVALID_PAYLOAD, AMOUNT),
    ("amount 1e999999999", SEED_LINES[1].replace(b'"3.25"', b"1e999999999"),
     INVALID_PAYLOAD, AMOUNT),
    ("amount 40 digits", line_with(amount="1" * 40), INVALID_PAYLOAD, AMOUNT),
    ("missing amount", _mutated(lambda m: _line0(m).pop("amount")), INVALID_PAYLOAD, AMOUNT),
    ("missing debit_account", _mutated(lambda m: _line0(m).pop("debit_account")),
     INVALID_PAYLOAD, "data.transactions[0].debit_account"),
    ("null credit_account", line_with(credit_account=None),
     INVALID_PAYLOAD, "data.transactions[0].credit_account"),
    ("blank debit_account", line_with(debit_account="  "),
     INVALID_PAYLOAD, "data.transactions[0].debit_account"),
    ("date 2024-13-01", line_with(date="2024-13-01"), INVALID_PAYLOAD, DATE),
    ("date 21/04/2024", line_with(date="21/04/2024"), INVALID_PAYLOAD, DATE),
    ("date 2024-4-21", line_with(date="2024-4-21"), INVALID_PAYLOAD, DATE),
    ("date 20240421", line_with(date="20240421"), INVALID_PAYLOAD, DATE),
    ("date timestamp", line_with(date=1713657600), INVALID_PAYLOAD, DATE),
    ("date with time", line_with(date="2024-04-21T00:00:00"), INVALID_PAYLOAD, DATE),
    ("document currency XXY", _mutated(lambda m: m["data"]["document"].update(currency="XXY")),
     INVALID_PAYLOAD, "data.document.currency"),
    ("line currency XXY", line_with(currency="XXY"),
     INVALID_PAYLOAD, "data.transactions[0].currency"),
    ("missing document", _mutated(lambda m: m["data"].pop("document")),
     INVALID_PAYLOAD, "data.document"),
    ("blank document number", _mutated(lambda m: m["data"]["document"].update(number="")),
     INVALID_PAYLOAD, "data.document.number"),
    ("no transactions", _mutated(lambda m: m["data"].update(transactions=[])),
     INVALID_PAYLOAD, "data.transactions"),
    ("line not an object", _mutated(lambda m: m["data"].update(transactions=["x"])),
     INVALID_PAYLOAD, "data.transactions[0]"),
    ("misspelt line key", _mutated(lambda m: _line0(m).update(amout="1")),
     INVALID_PAYLOAD, "data.transactions[0].amout"),
    ("line of another document", line_with(document_number="INV-9"),
     INVALID_PAYLOAD, "data.transactions[0].document_number"),
    ("segment value not a string", line_with(segments={"region": 1}),
     INVALID_PAYLOAD, "data.transactions[0].segments.region"),
    ("blank line id", line_with(id=""), INVALID_PAYLOAD, "data.transactions[0].id"),
    ("status change without changes",
     encode(message(event_type="transactions.status_changed", data={"changes": []})),
     INVALID_PAYLOAD, "data.changes"),
    ("status change of unknown type",
     encode(message(event_type="transactions.status_changed",
                    data={"changes": [{"type": "invoice", "id": "1", "status": "posted"}]})),
     INVALID_PAYLOAD, "data.changes[0].type"),
    ("status change carrying a document",
     encode(message(event_type="transactions.status_changed")),
     INVALID_PAYLOAD, "data.changes"),
]


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input(raw: bytes, code: str, field: str | None) -> None:
    assert_rejected(raw, code, field)


def test_too_large_is_refused_before_parsing() -> None:
    error = rejected(b"x" * 101, max_bytes=100)  # not even JSON: size is checked first
    assert (error.code, error.field) == (TOO_LARGE, None)
    assert "101" in error.detail and "100" in error.detail


def test_default_limit_is_one_mebibyte() -> None:
    msg = message()
    _line0(msg)["segments"] = {"note": "x" * 1_048_576}
    assert rejected(encode(msg)).code == TOO_LARGE


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (line_with(type="invoice_item"),
         ["line type invoice_item may not be carried by payment.applied"]),
        (line_with(amount="12,50"), ["data.transactions[0].amount", "decimal", "'12,50'"]),
        (line_with(date="2024-13-01"), ["data.transactions[0].date", "calendar date"]),
        (_mutated(lambda m: _line0(m).pop("debit_account")),
         ["data.transactions[0].debit_account", "required"]),
        (encode(message(event_type="payment.bounced")), ["'payment.bounced'", "invoice.posted"]),
    ],
)
def test_details_name_the_field_and_the_rule(raw: bytes, words: list[str]) -> None:
    detail = rejected(raw).detail
    for word in words:
        assert word in detail


def test_contract_error_survives_pickling() -> None:
    error = rejected(line_with(amount="abc"))
    copy_ = pickle.loads(pickle.dumps(error))
    assert (copy_.code, copy_.field, copy_.detail, str(copy_)) == (
        error.code, error.field, error.detail, str(error),
    )


# --- models used directly ----------------------------------------------------------------

LINE: dict[str, Any] = {
    "id": "L1", "type": "invoice_item", "date": "2024-04-21", "status": "posted",
    "amount": "1.00", "currency": "USD", "debit_account": "AR", "credit_account": "Revenue",
    "document_number": "INV-1",
}


def test_a_line_refuses_a_binary_float() -> None:
    with pytest.raises(ValidationError):
        TransactionLine.model_validate({**LINE, "amount": 0.1})
    line = TransactionLine.model_validate({**LINE, "amount": Decimal("0.1")})
    assert line.amount == Decimal("0.1")


def test_a_line_refuses_a_datetime_as_date() -> None:
    with pytest.raises(ValidationError):
        TransactionLine.model_validate({**LINE, "date": datetime(2024, 4, 21, tzinfo=UTC)})


def test_models_are_frozen() -> None:
    line = TransactionLine.model_validate(LINE)
    with pytest.raises(ValidationError):
        line.amount = Decimal(2)
    with pytest.raises(ValidationError):
        Document(number="D", currency="USD").number = "E"


# --- canonical body ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", SEED_LINES, ids=["processed", "applied", "unapplied"])
def test_canonical_body_is_sorted_compact_json_of_the_model_dump(raw: bytes) -> None:
    event = parse_billing_event(raw)
    body = canonical_body(event)
    expected = json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert body == expected
    assert body_hash(event) == hashlib.sha256(body).digest()
    assert parse_billing_event(body) == event


def test_canonical_body_with_segments_unicode_and_exponents() -> None:
    raw = line_with(
        segments={"z": "last", "region": "Zürich \"quoted\"\n", "a": "first"},
        amount="-1.50",
        subtype="täst",
    ).replace(b'"6.75"', b"2.5E+2")
    event = parse_billing_event(raw)
    expected = json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert canonical_body(event) == expected
    data = json.loads(canonical_body(event))["data"]["transactions"]
    assert [line["amount"] for line in data] == ["-1.50", "250", "-10"]


def test_canonical_body_ignores_key_order_whitespace_and_repeated_document_fields() -> None:
    msg = message()
    reordered = {key: msg[key] for key in reversed(list(msg))}
    spelled_out = copy.deepcopy(msg)
    for line in spelled_out["data"]["transactions"]:
        line.update(currency="USD", document_number="P-00000003", account_number="A00000001")
    bodies = {
        canonical_body(parse_billing_event(raw))
        for raw in (
            encode(msg),
            json.dumps(reordered, indent=4).encode(),
            encode(spelled_out),
        )
    }
    assert len(bodies) == 1


def test_canonical_body_keeps_the_scale_of_amounts() -> None:
    assert canonical_body(parse_billing_event(line_with(amount="3.25"))) != canonical_body(
        parse_billing_event(line_with(amount="3.250"))
    )
    assert body_hash(parse_billing_event(SEED_LINES[1])) == body_hash(
        parse_billing_event(SEED_LINES[1].replace(b'"3.25"', b"3.25"))
    )


def test_models_in_the_canonical_body_declare_fields_in_sorted_order() -> None:
    # canonical_body relies on it (see events/billing.py).
    from events import billing

    for model in (
        billing.Envelope, billing.BillingDocumentEvent, billing.StatusChangedEvent,
        billing.BillingData, billing.Document, billing.TransactionLine,
        billing.StatusChangedData, billing.StatusChange,
    ):
        assert list(model.model_fields) == sorted(model.model_fields), model.__name__
