"""``ledger asyncapi`` documents the three topics with the contract's message schemas."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from services.cli.app import app


def test_asyncapi_documents_billing_dlq_and_journal_topics(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.yaml"
    result = CliRunner().invoke(app, ["asyncapi", "--out", str(out)],
                                env={"LEDGER_TOPIC_BILLING": "billing.events"})
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(out.read_text())
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == {
        "billing.events", "billing.events.dlq", "ledger.journal-entries",
    }
    schemas = document["components"]["schemas"]
    for name in ("BillingDocumentEvent", "StatusChangedEvent", "TransactionLine",
                 "JournalEntryCreatedEvent", "JournalEntryCreated", "JournalRunCompletedEvent",
                 "JournalEntryCancelledEvent", "JournalRunCancelledEvent",
                 "JournalEntryTransferStatusChangedEvent"):
        assert name in schemas, name
