"""The idle trimmer returns memory once traffic stops, and only then."""

from __future__ import annotations

import asyncio

from omniroute.server.idle import IdleTrimmer


async def test_trims_once_after_activity_stops():
    counter = {"n": 0}
    trimmer = IdleTrimmer(lambda: counter["n"], interval_s=0.05)
    trimmer.start()
    try:
        for _ in range(6):  # busy: the counter moves every tick
            counter["n"] += 1
            await asyncio.sleep(0.05)
        busy_trims = trimmer.trims
        await asyncio.sleep(0.3)  # quiet
        assert trimmer.trims == busy_trims + 1, "one trim when the gateway goes quiet"
        await asyncio.sleep(0.3)
        assert trimmer.trims == busy_trims + 1, "no repeated trims while nothing happens"
    finally:
        await trimmer.close()


async def test_no_trim_without_traffic():
    trimmer = IdleTrimmer(lambda: 0, interval_s=0.02)
    trimmer.start()
    await asyncio.sleep(0.2)
    await trimmer.close()
    assert trimmer.trims == 0
