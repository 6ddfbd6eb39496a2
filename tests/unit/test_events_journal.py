"""Outbound journal events (docs/contract.md §2) and the JSON Schemas of every message."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from events import (
    EVENT_LINE_TYPES,
    INBOUND_EVENT_TYPES,
    OUTBOUND_EVENT_TYPES,
    TRANSACTION_TYPES,
    JournalEntryCancelled,
    JournalEntryCreated,
    JournalEntryLine,
    JournalEntryReversed,
    JournalEntryTransferStatusChanged,
    JournalRunCancelled,
    JournalRunCompleted,
    JournalRunTarget,
    json_schemas,
    outbound_envelope,
)

EVENT_ID = UUID("6f1c2b1e-8a3d-4f5e-9b7a-1d2c3b4a5f60")
WHEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def entry(**changes: Any) -> dict[str, Any]:
    """The first April entry of seed 001 (docs/domain.md §4)."""
    base: dict[str, Any] = {
        "number": "JE-00000001",
        "journal_run": "JR-00000001",
        "org": "US",
        "accounting_period": "Apr-2024",
        "journal_entry_date": date(2024, 4, 30),
        "transaction_type": "electronic_payment_application_item",
        "currency": "USD",
        "segments": {},
        "lines": [
            {"account": "Payments - 10002.000.00", "side": "debit", "amount": Decimal("10.00")},
            {"account": "Unapplied Payments - 10488.000.00", "side": "credit",
             "amount": Decimal("10.00")},
        ],
        "total_debit": Decimal("10.00"),
        "total_credit": Decimal("10.00"),
        "transaction_count": 1,
        "status": "created",
        "transfer_status": "no",
    }
    base.update(changes)
    return base


def test_outbound_event_types_of_the_contract() -> None:
    assert dict(OUTBOUND_EVENT_TYPES) == {
        "journal_run.completed": JournalRunCompleted,
        "journal_entry.created": JournalEntryCreated,
        "journal_entry.cancelled": JournalEntryCancelled,
        "journal_entry.reversed": JournalEntryReversed,
        "journal_run.cancelled": JournalRunCancelled,
        "journal_entry.transfer_status_changed": JournalEntryTransferStatusChanged,
    }


def test_journal_entry_created_envelope() -> None:
    envelope = outbound_envelope(
        "journal_entry.created", "US", JournalEntryCreated.model_validate(entry()),
        event_id=EVENT_ID, occurred_at=WHEN,
    )
    assert envelope == {
        "event_id": "6f1c2b1e-8a3d-4f5e-9b7a-1d2c3b4a5f60",
        "event_type": "journal_entry.created",
        "occurred_at": "2024-05-01T09:30:00Z",
        "org": "US",
        "schema_version": 1,
        "data": {
            "number": "JE-00000001",
            "journal_run": "JR-00000001",
            "org": "US",
            "accounting_period": "Apr-2024",
            "journal_entry_date": "2024-04-30",
            "transaction_type": "electronic_payment_application_item",
            "currency": "USD",
            "segments": {},
            "lines": [
                {"account": "Payments - 10002.000.00", "side": "debit", "amount": "10.00"},
                {"account": "Unapplied Payments - 10488.000.00", "side": "credit",
                 "amount": "10.00"},
            ],
            "total_debit": "10.00",
            "total_credit": "10.00",
            "transaction_count": 1,
            "status": "created",
            "transfer_status": "no",
            "reverses": None,
        },
    }
    json.dumps(envelope)  # ready to publish as is


def cancelled() -> JournalEntryCancelled:
    return JournalEntryCancelled(number="JE-00000002", journal_run="JR-00000001",
                                 released_transaction_count=2, at=WHEN, by="alice")


def test_envelope_defaults_and_unlabeled_org() -> None:
    envelope = outbound_envelope("journal_entry.cancelled", None, cancelled())
    assert envelope["org"] is None
    UUID(envelope["event_id"])
    assert envelope["occurred_at"].endswith("Z")
    assert envelope["data"] == {
        "number": "JE-00000002", "journal_run": "JR-00000001", "released_transaction_count": 2,
        "at": "2024-05-01T09:30:00.000000Z", "by": "alice",
    }


def test_who_and_when_are_utc_with_microseconds_and_must_carry_a_zone() -> None:
    data = JournalEntryReversed.model_validate({
        "number": "JE-00000001", "reversed_by": "JE-00000009", "released_transaction_count": 3,
        "at": "2024-05-01T11:30:00.25+02:00", "by": "ops@example.com"})
    assert data.model_dump(mode="json") == {
        "number": "JE-00000001", "reversed_by": "JE-00000009", "released_transaction_count": 3,
        "at": "2024-05-01T09:30:00.250000Z", "by": "ops@example.com"}
    with pytest.raises(ValidationError):  # a time without a zone is not an instant
        JournalEntryReversed.model_validate(
            data.model_dump(mode="json") | {"at": "2024-05-01T09:30:00"})
    with pytest.raises(ValidationError):  # the new entry is an entry number
        JournalEntryReversed.model_validate(
            data.model_dump(mode="json") | {"reversed_by": "JR-00000001"})


def test_an_entry_may_name_the_entry_it_reverses() -> None:
    reversal = JournalEntryCreated.model_validate(entry(reverses="JE-00000007",
                                                        transaction_count=0))
    assert reversal.model_dump(mode="json")["reverses"] == "JE-00000007"
    assert JournalEntryCreated.model_validate(entry(status="reversed")).status == "reversed"
    with pytest.raises(ValidationError):
        JournalEntryCreated.model_validate(entry(reverses="JR-00000007"))


def test_envelope_accepts_a_mapping_and_converts_offsets_to_utc() -> None:
    envelope = outbound_envelope(
        "journal_run.cancelled", "EU",
        {"number": "JR-00000003", "cancelled_entries": ["JE-00000004"], "kept_entries": [],
         "at": "2024-05-01T09:30:00.000000Z", "by": "alice"},
        occurred_at=datetime(2024, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))),
    )
    assert envelope["occurred_at"] == "2024-05-01T09:30:00Z"
    assert envelope["data"]["kept_entries"] == []


def test_envelope_refuses_wrong_inputs() -> None:
    data = cancelled()
    with pytest.raises(ValueError):
        outbound_envelope("journal_entry.deleted", None, data)
    with pytest.raises(TypeError):
        outbound_envelope("journal_run.cancelled", None, data)
    with pytest.raises(ValueError):
        outbound_envelope("journal_entry.cancelled", None, data, occurred_at=datetime(2024, 5, 1))


def test_transfer_status_changed_uses_from_on_the_wire() -> None:
    by_name = JournalEntryTransferStatusChanged(number="JE-00000001", from_="no",
                                                to="processing", at=WHEN, by="gl-sync")
    by_alias = JournalEntryTransferStatusChanged.model_validate(
        {"number": "JE-00000001", "from": "no", "to": "processing",
         "at": "2024-05-01T09:30:00Z", "by": "gl-sync"}
    )
    assert by_name == by_alias
    data = outbound_envelope("journal_entry.transfer_status_changed", "US", by_name)["data"]
    assert data == {"number": "JE-00000001", "from": "no", "to": "processing",
                    "at": "2024-05-01T09:30:00.000000Z", "by": "gl-sync"}
    with pytest.raises(ValidationError):
        JournalEntryTransferStatusChanged(number="JE-00000001", from_="no", to="done",
                                          at=WHEN, by="gl-sync")


def test_journal_run_completed() -> None:
    run = JournalRunCompleted(
        number="JR-00000001", org="US",
        target=JournalRunTarget(period="Apr-2024", start_date=date(2024, 4, 1),
                                end_date=date(2024, 4, 30)),
        journal_entry_date=date(2024, 4, 30),
        transaction_types=["electronic_payment_application_item"],
        status="completed", journal_entry_numbers=["JE-00000001", "JE-00000002"],
        transaction_count=3, created_at=WHEN, created_by="alice",
    )
    dumped = run.model_dump(mode="json")
    assert dumped["target"] == {"period": "Apr-2024", "start_date": "2024-04-01",
                                "end_date": "2024-04-30"}
    assert list(dumped) == ["number", "org", "target", "journal_entry_date", "transaction_types",
                            "status", "journal_entry_numbers", "transaction_count",
                            "created_at", "created_by"]
    assert (dumped["created_at"], dumped["created_by"]) == ("2024-05-01T09:30:00.000000Z",
                                                            "alice")


@pytest.mark.parametrize(
    "changes",
    [
        {"total_debit": Decimal("9.99")},  # total is not the sum of its lines
        {"total_debit": Decimal("11"), "total_credit": Decimal("11"),
         "lines": [{"account": "A", "side": "debit", "amount": Decimal("11")},
                   {"account": "B", "side": "credit", "amount": Decimal("10")}]},
        {"lines": [{"account": "A", "side": "debit", "amount": Decimal("-10")}]},
        {"number": "JE-1"},
        {"journal_run": "JE-00000001"},
        {"transaction_type": "cash"},
        {"currency": "XXY"},
        {"status": "pending"},
        {"transfer_status": "maybe"},
        {"total_credit": 10.0},  # a float is never money
    ],
)
def test_invalid_entries_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JournalEntryCreated.model_validate(entry(**changes))


def test_entry_lines_are_summed_per_side() -> None:
    lines = [
        {"account": "AR", "side": "debit", "amount": Decimal("3.25")},
        {"account": "AR2", "side": "debit", "amount": Decimal("6.75")},
        {"account": "Unapplied", "side": "credit", "amount": Decimal("10")},
    ]
    created = JournalEntryCreated.model_validate(entry(lines=lines))
    assert [line.amount for line in created.lines] == [Decimal("3.25"), Decimal("6.75"), 10]
    assert JournalEntryLine(account="X", side="credit", amount=Decimal(0)).amount == 0


# --- JSON Schemas ------------------------------------------------------------------------


def test_schema_names() -> None:
    schemas = json_schemas()
    assert set(schemas) == (
        {"envelope"}
        | {f"billing.{t}" for t in INBOUND_EVENT_TYPES}
        | {f"journal.{t}" for t in OUTBOUND_EVENT_TYPES}
    )
    assert "billing.invoice.posted" in schemas
    assert "journal.journal_entry.created" in schemas
    for schema in schemas.values():
        json.dumps(schema)
        assert schema["$schema"].startswith("https://json-schema.org/")


def test_inbound_schema_narrows_the_event_and_line_types() -> None:
    schema = json_schemas()["billing.invoice.posted"]
    assert schema["properties"]["event_type"]["const"] == "invoice.posted"
    line = schema["$defs"]["TransactionLine"]
    assert line["properties"]["type"]["enum"] == ["invoice_item", "taxation_item"]
    assert "currency" not in line["required"]
    assert "document_number" not in line["required"]
    assert {"id", "type", "date", "status", "amount", "debit_account", "credit_account"} <= set(
        line["required"]
    )
    amount = line["properties"]["amount"]
    assert {"type": "number"} in amount["anyOf"]


def test_inbound_schemas_cover_every_allowed_line_type() -> None:
    schemas = json_schemas()
    for event_type, line_types in EVENT_LINE_TYPES.items():
        schema = schemas[f"billing.{event_type}"]
        if line_types:
            enum = schema["$defs"]["TransactionLine"]["properties"]["type"]["enum"]
            assert set(enum) == line_types and set(enum) <= set(TRANSACTION_TYPES)
        else:
            assert "changes" in schema["$defs"]["StatusChangedData"]["properties"]


def test_revenue_schema_allows_null_accounts_and_requires_the_period() -> None:
    line = json_schemas()["billing.revenue.recognized"]["$defs"]["TransactionLine"]
    assert {"type": "null"} in line["properties"]["debit_account"]["anyOf"]
    assert "accounting_period" in line["required"]


def test_outbound_schema_has_the_data_model_and_string_amounts() -> None:
    schema = json_schemas()["journal.journal_entry.created"]
    assert schema["properties"]["event_type"]["const"] == "journal_entry.created"
    assert schema["properties"]["data"] == {"$ref": "#/$defs/JournalEntryCreated"}
    data = schema["$defs"]["JournalEntryCreated"]
    assert data["properties"]["total_debit"]["type"] == "string"
    transfer = json_schemas()["journal.journal_entry.transfer_status_changed"]
    assert "from" in transfer["$defs"]["JournalEntryTransferStatusChanged"]["properties"]
