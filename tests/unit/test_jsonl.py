"""``ledger publish`` reads its file a line at a time: every non-blank line as it is, the line
ending dropped, what was read reported for the progress bar, a line too long for Kafka
refused by name."""

from __future__ import annotations

import io

import pytest

from services import jsonl
from services.errors import RejectedInput


def read(data: bytes, max_line_bytes: int = 100) -> tuple[list[bytes], list[int]]:
    reported: list[int] = []
    out = list(jsonl.values(io.BufferedReader(io.BytesIO(data), 8), max_line_bytes,
                            on_read=reported.append))
    return out, reported


def test_each_non_blank_line_is_a_value_without_its_line_ending() -> None:
    data = b'{"a": 1}\n\n   \n{"b": 2}\r\n\t\r\n{not json\n{"c": 3}'
    values, reported = read(data)
    assert values == [b'{"a": 1}', b'{"b": 2}', b"{not json", b'{"c": 3}']
    assert sum(reported) == len(data)


def test_reads_are_reported_in_steps_not_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "REPORT_EVERY", 30)
    data = b"".join(b'{"n": %d}\n' % n for n in range(100))  # 9-10 bytes a line
    values, reported = read(data)
    assert len(values) == 100
    assert sum(reported) == len(data)
    assert all(r >= 30 for r in reported[:-1]) and len(reported) < 40


def test_a_line_longer_than_a_record_may_be_is_refused_after_the_lines_before_it() -> None:
    data = b"x" * 10 + b"\n" + b"y" * 101 + b"\n" + b"z\n"
    got: list[bytes] = []
    with pytest.raises(RejectedInput) as refused:
        got.extend(jsonl.values(io.BytesIO(data), 100))
    assert got == [b"x" * 10]
    assert refused.value.code == "publish_line_too_large"
    assert "line 2" in refused.value.message


def test_a_line_of_exactly_the_limit_passes_with_either_line_ending() -> None:
    line = b"q" * 100
    assert read(line + b"\r\n" + line + b"\n" + line)[0] == [line, line, line]
