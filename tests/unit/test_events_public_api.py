"""The public surface of ``events`` is exactly what consumers were promised (httpx style)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import events

EXPECTED = {
    # transaction_types
    "Category", "Settlement", "Mode", "TransactionType", "TRANSACTION_TYPES",
    "UnknownTransactionType", "enabled_types", "resolve_type_names", "type_by_display_name",
    # errors
    "ContractError", "INVALID_JSON", "INVALID_ENVELOPE", "UNKNOWN_EVENT_TYPE",
    "INVALID_PAYLOAD", "TOO_LARGE", "DUPLICATE_CONFLICT", "UNKNOWN_TRANSACTION", "UNSTORABLE",
    # billing (and the contract's limits on its text fields)
    "Envelope", "Document", "TransactionLine", "BillingData", "BillingDocumentEvent",
    "StatusChange", "StatusChangedData", "StatusChangedEvent", "BillingEvent",
    "EVENT_LINE_TYPES", "INBOUND_EVENT_TYPES", "MAX_TEXT_LENGTH", "MAX_SEGMENTS",
    # parsing
    "parse_billing_event", "canonical_body", "body_hash",
    # exclusions
    "ExclusionReason", "exclusion_reason", "status_eligible", "HOLD_REASON_STATUS",
    # journal
    "JournalRunTarget", "JournalRunCompleted", "JournalEntryLine", "JournalEntryCreated",
    "JournalEntryCancelled", "JournalEntryReversed", "JournalRunCancelled",
    "JournalEntryTransferStatusChanged",
    "OUTBOUND_EVENT_TYPES", "outbound_envelope",
    # schemas
    "json_schemas",
    # amounts
    "format_amount", "minor_units",
}

MODULES = [
    "events.transaction_types", "events.errors", "events.billing", "events.parsing",
    "events.exclusions", "events.journal", "events.schemas", "events.amounts",
]


def test_all_is_exactly_the_intended_names() -> None:
    assert set(events.__all__) == EXPECTED
    assert len(events.__all__) == len(EXPECTED)


def test_every_exported_name_exists() -> None:
    for name in events.__all__:
        assert getattr(events, name) is not None


def test_module_all_lists_only_defined_names() -> None:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_error_codes_are_the_contract_strings() -> None:
    assert {
        events.INVALID_JSON, events.INVALID_ENVELOPE, events.UNKNOWN_EVENT_TYPE,
        events.INVALID_PAYLOAD, events.TOO_LARGE, events.DUPLICATE_CONFLICT,
        events.UNKNOWN_TRANSACTION, events.UNSTORABLE,
    } == {
        "invalid_json", "invalid_envelope", "unknown_event_type", "invalid_payload",
        "too_large", "duplicate_conflict", "unknown_transaction", "unstorable",
    }
    error = events.ContractError(events.DUPLICATE_CONFLICT, "event_id seen with another body",
                                 field="event_id")
    assert (error.code, error.field, str(error)) == (
        "duplicate_conflict", "event_id", "duplicate_conflict: event_id seen with another body",
    )
    assert isinstance(error, ValueError)


def test_importing_events_pulls_in_no_io_libraries() -> None:
    # A consumer imports the contract without Kafka, PostgreSQL or the service.
    code = (
        "import sys, events; "
        "bad = [m for m in ('aiokafka', 'faststream', 'asyncpg', 'services', 'projections',"
        " 'fastapi', 'httpx', 'pycountry') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=str(__import__("pathlib").Path(events.__file__).parents[1]),
    )
    assert result.stdout.strip() == ""
