"""Every text field of an inbound message is bounded (255 characters, 32 segments a line):
over a limit is ``invalid_payload`` naming the field and the limit, and the published JSON
Schemas say so. A message the contract accepts is then one the store can hold."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from events import (
    INVALID_ENVELOPE,
    INVALID_PAYLOAD,
    MAX_SEGMENTS,
    MAX_TEXT_LENGTH,
    UNKNOWN_EVENT_TYPE,
    ContractError,
    json_schemas,
    parse_billing_event,
)

Event = dict[str, Any]


def invoice() -> Event:
    return {
        "event_id": "6f1c2b1e-8a3d-4f5e-9b7a-1d2c3b4a5f60",
        "event_type": "invoice.posted",
        "occurred_at": "2024-04-21T11:34:00Z",
        "org": "US",
        "data": {
            "document": {"number": "INV-1", "account_number": "A-1", "currency": "USD"},
            "transactions": [{
                "id": "L-1", "type": "invoice_item", "subtype": "charge", "date": "2024-04-21",
                "status": "posted", "amount": "10.00", "debit_account": "Accounts Receivable",
                "credit_account": "Revenue", "accounting_period": "Apr 2024",
                "recognition_rule": "Recognize upon invoicing", "segments": {"region": "NA"},
            }],
        },
    }


def status_changed() -> Event:
    return {
        "event_id": "6f1c2b1e-8a3d-4f5e-9b7a-1d2c3b4a5f61",
        "event_type": "transactions.status_changed",
        "occurred_at": "2024-04-21T11:35:00Z",
        "data": {"changes": [{"type": "invoice_item", "id": "L-1", "status": "canceled"}]},
    }


def line(event: Event) -> dict[str, Any]:
    line: dict[str, Any] = event["data"]["transactions"][0]
    return line


def setter(path: str) -> Callable[[Event, str], None]:
    """Where a text goes, by the field path an error names."""
    def put(event: Event, text: str) -> None:
        *parents, last = path.replace("[0]", ".0").split(".")
        target: Any = event
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = text
    return put


# field path -> the event it is in; the document's number and account are set on the
# document (their lines inherit them), everything else where it is.
TEXT_FIELDS: dict[str, Callable[[], Event]] = {
    "org": invoice,
    "data.document.number": invoice,
    "data.document.account_number": invoice,
    "data.transactions[0].id": invoice,
    "data.transactions[0].account_number": invoice,
    "data.transactions[0].debit_account": invoice,
    "data.transactions[0].credit_account": invoice,
    "data.transactions[0].subtype": invoice,
    "data.transactions[0].status": invoice,
    "data.transactions[0].accounting_period": invoice,
    "data.transactions[0].recognition_rule": invoice,
    "data.transactions[0].segments.region": invoice,
    "data.changes[0].id": status_changed,
    "data.changes[0].status": status_changed,
}


def refused(event: Event) -> ContractError:
    with pytest.raises(ContractError) as caught:
        parse_billing_event(json.dumps(event).encode())
    return caught.value


@pytest.mark.parametrize("path", TEXT_FIELDS)
def test_each_text_field_holds_255_characters_and_refuses_256(path: str) -> None:
    at_limit, over = TEXT_FIELDS[path](), TEXT_FIELDS[path]()
    setter(path)(at_limit, "é" * MAX_TEXT_LENGTH)  # characters, not bytes
    setter(path)(over, "x" * (MAX_TEXT_LENGTH + 1))
    parse_billing_event(json.dumps(at_limit).encode())

    error = refused(over)
    assert (error.code, error.field) == (INVALID_PAYLOAD, path)
    assert error.detail.startswith(f"{path}: is 256 characters long; the limit is 255")


def test_the_document_number_a_line_inherits_is_bounded_on_the_line_too() -> None:
    event = invoice()
    line(event)["document_number"] = "INV-1" + "x" * MAX_TEXT_LENGTH
    error = refused(event)
    assert (error.code, error.field) == (INVALID_PAYLOAD, "data.transactions[0].document_number")


def test_a_line_holds_32_segments_and_refuses_33() -> None:
    event = invoice()
    line(event)["segments"] = {f"s{i:02}": "v" for i in range(MAX_SEGMENTS)}
    parse_billing_event(json.dumps(event).encode())

    line(event)["segments"]["s32"] = "v"
    error = refused(event)
    assert (error.code, error.field, error.detail) == (
        INVALID_PAYLOAD, "data.transactions[0].segments",
        "data.transactions[0].segments: has 33 entries; the limit is 32",
    )


def test_a_segment_name_over_the_limit_is_named_by_its_segments_not_by_itself() -> None:
    event = invoice()
    line(event)["segments"] = {"n" * 6000: "v"}
    error = refused(event)
    assert (error.code, error.field, error.detail) == (
        INVALID_PAYLOAD, "data.transactions[0].segments",
        "data.transactions[0].segments: has a name 6000 characters long; the limit is 255",
    )


def test_a_huge_unknown_key_is_abbreviated_in_the_path() -> None:
    event = invoice()
    event["data"]["document"]["k" * 6000] = 1
    error = refused(event)
    assert error.code == INVALID_PAYLOAD
    assert error.field == f"data.document.{'k' * 60}... (6000 characters)"
    assert len(error.detail) < 200


def test_an_envelope_problem_outranks_a_field_over_its_limit() -> None:
    event = invoice() | {"org": "o" * 300, "event_id": "not-a-uuid"}
    assert (refused(event).code, refused(event).field) == (INVALID_ENVELOPE, "event_id")


def test_an_unknown_event_type_outranks_an_org_over_its_limit() -> None:
    event = invoice() | {"org": "o" * 300, "event_type": "invoice.exploded"}
    assert refused(event).code == UNKNOWN_EVENT_TYPE


def test_a_huge_unknown_event_type_is_abbreviated_in_the_detail() -> None:
    error = refused(invoice() | {"event_type": "t" * 6000})
    assert error.code == UNKNOWN_EVENT_TYPE
    assert "(6002 characters)" in error.detail and len(error.detail) < 400


def test_the_json_schemas_publish_every_limit() -> None:
    schemas = json_schemas()
    for name in ("billing.invoice.posted", "billing.revenue.recognized"):
        schema = schemas[name]
        assert schema["properties"]["org"]["anyOf"][0]["maxLength"] == 255
        document = schema["$defs"]["Document"]["properties"]
        assert document["number"]["maxLength"] == 255
        assert document["account_number"]["anyOf"][0]["maxLength"] == 255
        fields = schema["$defs"]["TransactionLine"]["properties"]
        for text in ("id", "status", "document_number"):
            assert fields[text]["maxLength"] == 255, (name, text)
        for text in ("debit_account", "credit_account"):
            bound = fields[text] if "maxLength" in fields[text] else fields[text]["anyOf"][0]
            assert bound["maxLength"] == 255, (name, text)
        for text in ("account_number", "subtype", "accounting_period", "recognition_rule"):
            assert fields[text]["anyOf"][0]["maxLength"] == 255, (name, text)
        assert fields["segments"]["maxProperties"] == 32
        assert fields["segments"]["propertyNames"] == {"maxLength": 255}
        assert fields["segments"]["additionalProperties"]["maxLength"] == 255
    change = schemas["billing.transactions.status_changed"]["$defs"]["StatusChange"]
    assert change["properties"]["id"]["maxLength"] == 255
    assert change["properties"]["status"]["maxLength"] == 255
