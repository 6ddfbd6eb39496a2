"""One registry of every event type the log holds: names, data models, origins; the ledger's
own events typed, their stored JSON the same as it always was, old payloads still valid."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import UUID

import pytest
from pydantic import ValidationError

import projections
from events import INBOUND_EVENT_TYPES, OUTBOUND_EVENT_TYPES, BillingData, StatusChangedData
from events import errors as codes
from events.catalogue import (
    EVENT_TYPES,
    OUTBOUND_TYPES,
    UnknownEventType,
    data_model,
    event_type_of,
)
from events.journal import JournalRunPreview
from events.ledger_events import (
    LEDGER_EVENT_TYPES,
    ApiKeyCreated,
    ApiKeyRevoked,
    OrgCreated,
    PeriodCreated,
    PeriodStatusChanged,
    SettingsChanged,
)
from events.periods import Period
from events.rejections import REJECTION_EVENT_TYPES, MessageRejected, RejectedMessageRetried
from events.transaction_types import Settlement
from services.commands.recording import command_event, period_created_event
from services.ingest.records import InboundRecord, Rejection

LEDGER_TYPES = {
    "settings.changed", "org.created", "period.created", "period.status_changed",
    "api_key.created", "api_key.revoked",
    "message.rejected", "rejected_message.resolved", "rejected_message.retried",
}


def test_the_registry_holds_every_inbound_outbound_and_ledger_type_once() -> None:
    assert set(EVENT_TYPES) == set(INBOUND_EVENT_TYPES) | set(OUTBOUND_EVENT_TYPES) | LEDGER_TYPES
    assert len(EVENT_TYPES) == len(INBOUND_EVENT_TYPES) + len(OUTBOUND_EVENT_TYPES) + 9
    assert {t for t, k in EVENT_TYPES.items() if k.origin == "inbound"} == set(
        INBOUND_EVENT_TYPES)
    assert tuple(OUTBOUND_EVENT_TYPES) == OUTBOUND_TYPES
    assert {t for t, k in EVENT_TYPES.items() if k.origin == "ledger"} == LEDGER_TYPES
    assert data_model("invoice.posted") is BillingData
    assert data_model("transactions.status_changed") is StatusChangedData
    for event_type, model in {**OUTBOUND_EVENT_TYPES, **LEDGER_EVENT_TYPES,
                              **REJECTION_EVENT_TYPES}.items():
        assert data_model(event_type) is model
        assert EVENT_TYPES[event_type].event_type == event_type


def test_a_command_event_takes_its_type_from_its_data_model() -> None:
    data = OrgCreated(name="US")
    assert event_type_of(data) == "org.created"
    event = command_event(data, "org:US", org="US")
    assert (event.event_type, json.loads(event.payload)["event_type"]) == (
        "org.created", "org.created")
    with pytest.raises(UnknownEventType):
        event_type_of(JournalRunPreview.model_construct())  # printed, never an event
    with pytest.raises(UnknownEventType):
        data_model("journal_entry.deleted")


def test_a_misnamed_or_missing_field_fails_when_the_event_is_made() -> None:
    with pytest.raises(ValidationError, match="settlment"):
        SettingsChanged(settlment="legacy", harmonization=False,  # type: ignore[call-arg]
                        multi_org=False)
    with pytest.raises(ValidationError, match=r"\nto\n  Field required"):
        PeriodStatusChanged.model_validate({"scope": "", "name": "Apr-2024", "from": "open"})
    with pytest.raises(ValidationError, match="role"):
        ApiKeyCreated(name="ci", role="admin",  # type: ignore[arg-type]
                      token_hash="0" * 64, created_at=datetime.now(UTC))


def data_of(data: object, stream: str = "s") -> dict[str, object]:
    event = command_event(data, stream)  # type: ignore[arg-type]
    payload: dict[str, object] = json.loads(event.payload)
    return payload["data"]  # type: ignore[return-value]


def test_the_ledger_events_are_stored_as_they_always_were() -> None:
    assert data_of(SettingsChanged(settlement=Settlement.INVOICE_SETTLEMENT,
                                   harmonization=False, multi_org=True)) == {
        "settlement": "invoice_settlement", "harmonization": False, "multi_org": True}
    assert data_of(SettingsChanged(settlement=Settlement.INVOICE_SETTLEMENT,
                                   harmonization=False, multi_org=True, forced=True,
                                   unjournaled={"invoice_item": 3})) == {
        "settlement": "invoice_settlement", "harmonization": False, "multi_org": True,
        "forced": True, "unjournaled": {"invoice_item": 3}}
    assert data_of(PeriodStatusChanged.model_validate(
        {"scope": "US", "name": "Apr-2024", "from": "open", "to": "closed"})) == {
        "scope": "US", "name": "Apr-2024", "from": "open", "to": "closed"}
    created = json.loads(period_created_event(
        Period("US", "Apr-2024", date(2024, 4, 1), date(2024, 4, 30), fiscal_year=2024,
               fiscal_quarter=2), notes="first").payload)["data"]
    assert len(created.pop("id")) == 32
    assert created == {"scope": "US", "name": "Apr-2024", "start_date": "2024-04-01",
                       "end_date": "2024-04-30", "fiscal_year": 2024, "fiscal_quarter": 2,
                       "open_ended": False, "notes": "first"}
    at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert data_of(ApiKeyRevoked(name="ci", revoked_at=at)) == {
        "name": "ci", "revoked_at": "2024-05-01T09:30:00Z"}
    assert data_of(ApiKeyRevoked(name="ci", revoked_at=at.replace(microsecond=5))) == {
        "name": "ci", "revoked_at": "2024-05-01T09:30:00.000005Z"}


def test_payloads_written_before_the_models_still_validate() -> None:
    """What older ledgers recorded: periods without ids or notes, refusals with offsets."""
    old_period = {"scope": "", "name": "Open-Ended", "start_date": None, "end_date": None,
                  "fiscal_year": None, "fiscal_quarter": None, "open_ended": True}
    assert PeriodCreated.model_validate(old_period).id is None
    assert ApiKeyCreated.model_validate(
        {"name": "ci", "role": "viewer", "token_hash": "ab" * 32,
         "created_at": "2024-05-01T09:30:00.123456Z"}).created_at.microsecond == 123456
    refused = {"topic": "billing.events", "partition": 0, "offset": 7, "key": None,
               "value": "e25vdCBqc29u", "headers": [["h", None]],
               "error_code": "invalid_json", "error_detail": "not JSON",
               "error_field": None, "rejected_at": "2024-05-01T09:30:00.123456+00:00"}
    assert MessageRejected.model_validate(refused).model_dump(mode="json") == refused


def test_a_refusal_is_recorded_as_message_rejected_with_every_code_known() -> None:
    record = InboundRecord("billing.events", 2, 41, b"k", b"{bad", (("h\x00", b"v"),))
    event = Rejection(record, codes.INVALID_JSON, "not JSON", None).to_event(
        datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    payload = json.loads(event.payload)
    assert (event.event_type, event.stream, payload["event_type"]) == (
        "message.rejected", "rejected:billing.events/2", "message.rejected")
    assert payload["data"] == {
        "topic": "billing.events", "partition": 2, "offset": 41, "key": "aw==",
        "value": "e2JhZA==", "headers": [["h\ufffd", "dg=="]], "error_code": "invalid_json",
        "error_detail": "not JSON", "error_field": None,
        "rejected_at": "2024-05-01T09:30:00+00:00"}
    with pytest.raises(ValidationError, match="rejection_code"):
        RejectedMessageRetried(rejection_event_id=UUID(int=1), source="t/0/1",
                               error_code="made_up", error_detail="?", error_field=None)


def test_every_refusal_code_is_in_one_place() -> None:
    assert codes.REJECTION_CODES == (
        "too_large", "invalid_json", "invalid_envelope", "unknown_event_type",
        "invalid_payload", "duplicate_conflict", "duplicate_transaction",
        "unknown_transaction", "unknown_org", "unstorable")
    from services.ingest import classify
    assert (classify.DUPLICATE_TRANSACTION, classify.UNKNOWN_ORG) == (
        codes.DUPLICATE_TRANSACTION, codes.UNKNOWN_ORG)


def test_projections_fold_registered_types_only() -> None:
    handled: set[str] = set()
    for projection in projections.ALL:
        handled |= set(projection.handlers)
        for statement in projection.range_statements:
            handled |= statement.types
    assert handled <= set(EVENT_TYPES)
    assert handled == set(EVENT_TYPES)  # and every registered type changes some read model
