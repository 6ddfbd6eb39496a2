"""Sends in flight are bounded: past the count or the bytes allowed, the sender waits for the
oldest acknowledgements (down to half the window) before it may send more."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.kafka_io import SendWindow


def acks(n: int) -> list[asyncio.Future[Any]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(n)]


async def test_a_full_window_waits_for_the_oldest_until_it_is_half_empty() -> None:
    sent: list[int] = []
    window = SendWindow(sent.append, max_sends=4, max_bytes=10**9)
    futures = acks(6)
    for f in futures[:4]:
        await window.add(f, 1)  # four fit
    fifth = asyncio.create_task(window.add(futures[4], 1))
    await asyncio.sleep(0)  # let the task run until it waits (no timing is asserted)
    assert not fifth.done()
    futures[0].set_result(None)
    futures[1].set_result(None)
    await asyncio.sleep(0)
    assert not fifth.done()  # 3 left in flight, more than half of 4
    futures[2].set_result(None)
    await asyncio.wait_for(fifth, 5)
    assert (sent, window.acknowledged) == ([3], 3)
    await window.add(futures[5], 1)  # 3 in flight: room
    for f in futures[3:]:
        f.set_result(None)
    await window.drain()
    assert (sent, window.acknowledged) == ([3, 3], 6)


async def test_bytes_bound_the_window_too() -> None:
    window = SendWindow(max_sends=1000, max_bytes=100)
    futures = acks(3)
    await window.add(futures[0], 40)
    await window.add(futures[1], 40)
    third = asyncio.create_task(window.add(futures[2], 40))  # 120 > 100: waits
    await asyncio.sleep(0)
    assert not third.done()
    futures[0].set_result(None)
    await asyncio.sleep(0)
    assert not third.done()  # 80 in flight, more than half of 100
    futures[1].set_result(None)
    await asyncio.wait_for(third, 5)
    assert window.acknowledged == 2


async def test_a_failed_send_is_raised_and_not_counted() -> None:
    window = SendWindow(max_sends=10, max_bytes=10**6)
    futures = acks(2)
    await window.add(futures[0], 1)
    await window.add(futures[1], 1)
    futures[0].set_result(None)
    futures[1].set_exception(RuntimeError("broker refused"))
    with pytest.raises(RuntimeError, match="broker refused"):
        await window.drain()
    assert window.acknowledged == 1
