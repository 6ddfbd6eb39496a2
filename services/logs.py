"""Log output of the service: ``LEDGER_LOG_FORMAT`` (text | json) and ``LEDGER_LOG_LEVEL``.

``json`` writes one JSON object per line (``time``, ``level``, ``logger``, ``message``, and
``exception`` with the traceback text when there is one), for log shippers that should not
have to parse free text. Everything goes to stderr; stdout belongs to command output.

Secrets stay out of the logs by their type (``SecretStr`` prints as ``**********``); nothing
here formats settings.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from services.config import Settings

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

#: Chatty libraries kept at WARNING unless the ledger's own level is DEBUG.
_QUIET_LIBRARIES = ("aiokafka", "asyncio")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class LastRecord(logging.Handler):
    """Keeps the last record's message instead of writing it."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


#: The Kafka client's last error while its records are quiet: why a broker did not answer
#: (refused, TLS handshake, SASL authentication), for the command's one-line report.
KAFKA_LAST_ERROR = LastRecord(logging.ERROR)


def quiet_library_logs() -> None:
    """For one-shot commands: the Kafka client's own error records (a line per failed
    connection attempt) are not written, because the command reports the failure itself, in
    one line naming the setting and the last of them (``KAFKA_LAST_ERROR``).
    ``configure_logging`` (``serve``) writes them again."""
    kafka = logging.getLogger("aiokafka")
    kafka.setLevel(logging.ERROR)
    kafka.addHandler(KAFKA_LAST_ERROR)
    kafka.propagate = False


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Make the root logger write ``settings.log_format`` at ``settings.log_level``
    to ``stream`` (stderr); replaces any handler set before, so calling it again is safe."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level)
    root.setLevel(level)
    kafka = logging.getLogger("aiokafka")
    kafka.removeHandler(KAFKA_LAST_ERROR)
    kafka.propagate = True
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
