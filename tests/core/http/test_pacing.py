from __future__ import annotations

import asyncio
import bisect
import itertools

import pytest
from http_fakes import FakeClock

from segsync.http import Pacer, PacerChain, credential_key, pacer_for, reset_pacers


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


async def run_load(pacer: Pacer, clock: FakeClock, n: int) -> list[float]:
    starts: list[float] = []

    async def one() -> None:
        async with pacer.slot():
            starts.append(clock())  # an instant request: it ends when it starts

    await asyncio.gather(*(one() for _ in range(n)))
    return starts


async def test_rolling_window_never_exceeded_under_concurrent_load(clock: FakeClock) -> None:
    pacer = Pacer(10, 1.0, 4, clock=clock, sleep=clock.sleep)
    starts = await run_load(pacer, clock, 60)
    assert len(starts) == 60
    assert max_in_window(starts, 1.0) <= 10
    # and close to the allowed rate: 60 requests need a bit under 6 windows
    span = max(starts) - min(starts)
    assert 59 / span >= 0.97 * 10


async def test_starts_are_spread_not_bursted_with_no_run(clock: FakeClock) -> None:
    pacer = Pacer(100, 2.0, None, clock=clock, sleep=clock.sleep, run=0.0)
    starts = sorted(await run_load(pacer, clock, 30))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 2.0 / 100 - 0.006  # even spacing, small tolerance for late wake-ups


async def test_starts_come_in_short_runs_on_the_even_schedule(clock: FakeClock) -> None:
    pacer = Pacer(100, 2.0, None, clock=clock, sleep=clock.sleep)  # runs of 10
    assert pacer.run_length == 10
    starts = sorted(await run_load(pacer, clock, 95))
    interval = pacer.interval
    # back to back within a run, then one wait for the schedule to catch up: 9 waits, not 94
    assert len(clock.sleeps) == 9
    runs = [len(list(group)) for _, group in itertools.groupby(starts)]
    assert runs == [10] * 9 + [5]
    # never more than a run ahead of the even schedule: any span holds at most
    # span / interval + run_length starts (a wake-up may come 5 ms early)
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            assert j - i + 1 <= (starts[j] - first + 0.005) / interval + 10 + 1e-9
    # and the average rate is the schedule's: 95 starts take 9 runs' worth of time
    assert max(starts) - min(starts) == pytest.approx(90 * interval, abs=0.006 * 9)
    assert max_in_window(starts, 2.0) <= 100


async def test_slow_requests_keep_a_run_going_without_getting_ahead(clock: FakeClock) -> None:
    pacer = Pacer(100, 2.0, 1, clock=clock, sleep=clock.sleep)  # one at a time, runs of 10
    starts: list[float] = []
    for _ in range(40):
        async with pacer.slot():
            starts.append(clock())
            clock.now += 1.5 * pacer.interval  # slower than the schedule: it never waits
    assert clock.sleeps == []
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {round(1.5 * pacer.interval, 9)}


def test_run_is_a_fraction_of_the_budget() -> None:
    assert Pacer(100, 10.0).run_length == 10
    assert Pacer(5, 1.0).run_length == 1  # a small budget: every start spaced
    assert Pacer(None).run_length == 1
    assert Pacer(300, 60.0, run=0.05).run_length == 15
    with pytest.raises(ValueError, match="run"):
        Pacer(10, 1.0, run=1.0)


async def test_a_request_counts_until_it_ends(clock: FakeClock) -> None:
    pacer = Pacer(2, 1.0, None, clock=clock, sleep=clock.sleep, margin=0.0)
    async with pacer.slot():
        clock.now += 0.7  # a slow first request
    async with pacer.slot():
        pass
    async with pacer.slot():
        # the third start waits one window after the first request *ended*, not started
        assert clock() == pytest.approx(1001.7)


async def test_concurrency_cap(clock: FakeClock) -> None:
    pacer = Pacer(None, 1.0, 3, clock=clock, sleep=clock.sleep)
    release = asyncio.Event()
    in_flight = peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        async with pacer.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await release.wait()
            in_flight -= 1

    tasks = [asyncio.create_task(one()) for _ in range(10)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert in_flight == 3 and pacer.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3 and pacer.in_flight == 0


async def test_cancelled_waiter_gives_its_slot_back(clock: FakeClock) -> None:
    pacer = Pacer(None, 1.0, 1, clock=clock, sleep=clock.sleep)
    gate = asyncio.Event()

    async def holder() -> None:
        async with pacer.slot():
            await gate.wait()

    async def waiter() -> None:
        async with pacer.slot():
            pass

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()
    await held
    async with pacer.slot():
        assert pacer.in_flight == 1
    assert pacer.in_flight == 0


async def test_observe_tightens_but_never_loosens(clock: FakeClock) -> None:
    pacer = Pacer(10, 1.0, None, clock=clock, sleep=clock.sleep)
    pacer.observe(50, None, None)
    assert pacer.requests == 10
    pacer.observe(5, None, None)
    assert pacer.requests == 5
    starts = await run_load(pacer, clock, 20)
    assert max_in_window(starts, 1.0) <= 5


async def test_observe_remaining_zero_blocks_until_reset(clock: FakeClock) -> None:
    pacer = Pacer(None, 1.0, None, clock=clock, sleep=clock.sleep)
    t0 = clock()
    pacer.observe(100, 0, 7.5)
    async with pacer.slot() as waited:
        assert clock() >= t0 + 7.5
        assert waited == pytest.approx(7.5)


async def test_observe_remaining_budget_is_spent_then_waits(clock: FakeClock) -> None:
    pacer = Pacer(None, 1.0, None, clock=clock, sleep=clock.sleep)
    t0 = clock()
    pacer.observe(None, 2, 5.0)
    starts = await run_load(pacer, clock, 3)
    assert starts[:2] == [t0, t0]
    assert starts[2] >= t0 + 5.0


async def test_penalise_blocks_new_starts(clock: FakeClock) -> None:
    pacer = Pacer(100, 1.0, None, clock=clock, sleep=clock.sleep)
    t0 = clock()
    pacer.penalise(2.5)
    async with pacer.slot():
        assert clock() >= t0 + 2.5
    pacer.penalise(None)  # default pause
    t1 = clock()
    async with pacer.slot():
        assert clock() >= t1 + 1.0


def test_registry_shares_one_pacer_per_credential() -> None:
    reset_pacers()
    key = credential_key("hubspot", "pat-na1-secret")
    assert "secret" not in key
    a = pacer_for(key, 100, 10.0, 5)
    b = pacer_for(key, 150, 10.0, 8)  # looser: ignored
    assert a is b and (a.requests, a.concurrency) == (100, 5)
    c = pacer_for(key, 50, 10.0, 2)  # stricter: adopted
    assert c is a and (a.requests, a.concurrency) == (50, 2)
    assert pacer_for(credential_key("hubspot", "other"), 100, 10.0, 5) is not a
    assert "secret" not in repr(a)
    reset_pacers()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Pacer(0, 1.0)
    with pytest.raises(ValueError):
        Pacer(1, 0.0)
    with pytest.raises(ValueError):
        Pacer(1, 1.0, 0)


async def test_a_chain_holds_every_budget(clock: FakeClock) -> None:
    """Searches inside an account limit: the tighter budget of the two governs, a 429 pauses
    both, and rate-limit headers describe (and tighten) only the account-wide one."""
    search = Pacer(4, 1.0, 1, clock=clock, sleep=clock.sleep, margin=0.0)
    account = Pacer(100, 10.0, 4, clock=clock, sleep=clock.sleep, margin=0.0)
    chain = PacerChain(search, account)
    starts = []
    for _ in range(12):
        async with chain.slot():
            starts.append(clock())
    assert all(sum(1 for t in starts if s <= t < s + 1.0) <= 4 for s in starts)
    assert len(account._log) == 12
    chain.observe(50, 10, 10.0)
    assert (account.requests, search.requests) == (50, 4)
    chain.penalise(5.0)
    before = clock()
    async with chain.slot():
        assert clock() - before >= 5.0
