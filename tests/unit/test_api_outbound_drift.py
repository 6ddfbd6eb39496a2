"""The HTTP API's answers and the outbound models cannot drift apart: every field of every
outbound event's data is served, under its own name through the alias generator (camelCase)
or where ``services.api.models.SERVED_AS`` says, which also names the fields left out."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from events import OUTBOUND_EVENT_TYPES
from events.journal import JournalEntryCancelled
from services.api.models import SERVED_AS, JournalEntryCancellation, Served


def emitted_names(model: type[BaseModel]) -> list[str]:
    """The field names of a model's JSON (its aliases where it has them)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def answer_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or to_camel(name) for name, field in model.model_fields.items()}


def unserved(outbound: type[BaseModel], served: Served) -> list[str]:
    """The outbound fields the answer does not carry, with the table's entries that name a
    field the outbound model does not have, or one the answer does not have."""
    answer = answer_names(served.answer)
    emitted = emitted_names(outbound)
    problems = [f"{name} (no longer emitted)" for name in served.renamed if name not in emitted]
    for name in emitted:
        if name in served.renamed:
            problems += [f"{name} -> {target} (not in {served.answer.__name__})"
                         for target in served.renamed[name] if target not in answer]
        elif to_camel(name) not in answer:
            problems.append(name)
    return problems


def test_every_outbound_event_is_served_by_an_answer() -> None:
    assert set(SERVED_AS) == set(OUTBOUND_EVENT_TYPES.values())


def test_every_field_of_every_outbound_event_is_served_or_left_out_on_purpose() -> None:
    assert {model.__name__: unserved(model, served) for model, served in SERVED_AS.items()} == {
        model.__name__: [] for model in SERVED_AS}


def test_a_new_outbound_field_that_no_answer_carries_fails_the_check() -> None:
    class CancelledWithReason(JournalEntryCancelled):
        reason: str

    class CancelledRenamedRun(JournalEntryCancelled):
        journal_run_number: str  # as if journal_run had been renamed

    served = SERVED_AS[JournalEntryCancelled]
    assert unserved(CancelledWithReason, served) == ["reason"]
    assert unserved(CancelledRenamedRun, served) == ["journal_run_number"]
    assert unserved(JournalEntryCancelled, Served(JournalEntryCancellation,
                                                  {"number": ("entryNumber",)})) == [
        "number -> entryNumber (not in JournalEntryCancellation)"]


def test_an_answer_derived_by_the_alias_generator_is_the_event_data_in_camel_case() -> None:
    """The cancellation answer is made from the event's data alone, field for field."""
    cancelled = JournalEntryCancelled(number="JE-00000001", journal_run="JR-00000001",
                                      released_transaction_count=2,
                                      at="2024-05-01T09:30:00Z", by="ops")  # type: ignore[arg-type]
    answer = JournalEntryCancellation.of(cancelled).model_dump(mode="json")
    assert answer == {"success": True, "number": "JE-00000001", "journalRun": "JR-00000001",
                      "releasedTransactionCount": 2, "at": "2024-05-01T09:30:00.000000Z",
                      "by": "ops"}
