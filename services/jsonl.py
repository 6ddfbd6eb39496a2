"""Read a JSON Lines file one line at a time, in bounded memory, whatever its size.

A line is sent as it is: whether it is JSON, and valid, is the ingest's judgement (an
invalid line is refused there and goes to the DLQ), not the reader's. Only what no broker
would take is refused here: a line longer than the producer's ceiling, which is also what
keeps a file with no newline from being read whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from services.errors import RejectedInput

#: Bytes asked of the file per read: few system calls, and a small fixed buffer.
READ_BUFFER = 1024 * 1024
#: How often (in bytes read) ``on_read`` is told: a progress bar needs no more.
REPORT_EVERY = 1024 * 1024


def values(
    handle: BinaryIO,
    max_line_bytes: int,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """Each non-blank line of ``handle`` without its line ending (``\\n`` or ``\\r\\n``).

    ``on_read`` gets the bytes read since its last call, every ``REPORT_EVERY`` bytes and
    at the end. A line longer than ``max_line_bytes`` raises ``publish_line_too_large``
    (what came before it has been handed out already).
    """
    unreported = 0
    number = 0
    while line := handle.readline(max_line_bytes + 2):
        number += 1
        unreported += len(line)
        if on_read is not None and unreported >= REPORT_EVERY:
            on_read(unreported)
            unreported = 0
        value = line[:-1] if line.endswith(b"\n") else line
        value = value[:-1] if value.endswith(b"\r") else value
        if len(value) > max_line_bytes:
            raise RejectedInput(
                "publish_line_too_large",
                f"line {number} is longer than {max_line_bytes} bytes, more than a Kafka "
                f"record may hold; the lines before it were sent")
        if value.strip():
            yield value
    if on_read is not None and unreported:
        on_read(unreported)
