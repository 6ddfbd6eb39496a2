"""``LEDGER_LOG_FORMAT=json``: one JSON object per line, exceptions included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from services.config import Settings
from services.logs import configure_logging


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    kafka_level = logging.getLogger("aiokafka").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(kafka_level)


def test_json_lines_carry_time_level_logger_message_and_the_exception(
    restored_root: None,
) -> None:
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format="json", log_level="INFO"), stream)
    log = logging.getLogger("ledger.test")
    log.debug("not at INFO")
    log.info("stored %d events\nin one batch", 3)
    try:
        raise ValueError("bad batch")
    except ValueError:
        log.exception("ingest failed")
    logging.getLogger("aiokafka").warning("kept at WARNING")
    logging.getLogger("aiokafka").info("dropped below WARNING")

    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses on its own
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "ledger.test", "stored 3 events\nin one batch"),
        ("ERROR", "ledger.test", "ingest failed"),
        ("WARNING", "aiokafka", "kept at WARNING"),
    ]
    assert set(records[0]) == {"time", "level", "logger", "message"}
    assert records[0]["time"].endswith("+00:00")
    assert records[1]["exception"].startswith("Traceback (most recent call last)")
    assert records[1]["exception"].endswith("ValueError: bad batch")


def test_text_is_the_default_and_the_level_is_honoured(restored_root: None) -> None:
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_level="WARNING"), stream)
    logging.getLogger("ledger.test").info("quiet")
    logging.getLogger("ledger.test").warning("loud")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" ledger.test WARNING loud")
