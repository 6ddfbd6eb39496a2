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


def quiet_library_logs() -> None:
    """For one-shot commands: the Kafka client's own error records (a line per failed
    connection attempt) are dropped, because the command reports the failure itself, in one
    line naming the setting. ``configure_logging`` (``serve``) brings them back."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


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
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
