"""The arrival gate: user events wait for everything before them and hold back the rest."""

import asyncio

from incident_notifier.entrypoints.ordering import ArrivalGate


async def test_exclusive_passages_separate_the_shared_ones_in_arrival_order() -> None:
    gate = ArrivalGate()
    log: list[str] = []
    release_first = asyncio.Event()

    async def run(name: str, exclusive: bool, hold: asyncio.Event | None = None) -> None:
        async with gate.passage(exclusive=exclusive):
            log.append(f"+{name}")
            if hold is not None:
                await hold.wait()
            await asyncio.sleep(0)
            log.append(f"-{name}")

    tasks = [
        asyncio.create_task(run("t1", False, release_first)),
        asyncio.create_task(run("t2", False)),
        asyncio.create_task(run("u1", True)),
        asyncio.create_task(run("t3", False)),
        asyncio.create_task(run("t4", False)),
    ]
    await asyncio.sleep(0.01)
    # t1 is held: u1 must not start, and t3/t4 (after u1) must not either.
    assert "+u1" not in log
    assert "+t3" not in log
    assert {"+t1", "+t2", "-t2"} <= set(log)
    release_first.set()
    await asyncio.gather(*tasks)
    assert log.index("-t1") < log.index("+u1") < log.index("-u1") < log.index("+t3")
    assert log.index("-u1") < log.index("+t4")


async def test_a_failing_passage_still_opens_the_gate() -> None:
    gate = ArrivalGate()

    async def fail() -> None:
        async with gate.passage(exclusive=True):
            raise ValueError("boom")

    first = asyncio.create_task(fail())
    second_ran = asyncio.Event()

    async def after() -> None:
        async with gate.passage(exclusive=False):
            second_ran.set()

    second = asyncio.create_task(after())
    await asyncio.gather(first, second, return_exceptions=True)
    assert second_ran.is_set()
