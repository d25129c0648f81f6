"""Benchmark: the CPU one page of a paged pull costs, layer by layer, unpaced and paced.

Serves :class:`HubSpotSimulator` on loopback seeded with N contacts and, in a fresh process
for each measurement, reads every page of the contacts (100 a page) four ways, each one layer
more of what ``segsync pull`` does with a page:

1. ``httpx`` — a bare ``httpx.AsyncClient`` GET and ``json()`` of each page, paced by the same
   :class:`~segsync.http.Pacer` (the floor);
2. ``pages`` — the connector's pages: segsync's client (pacing, retries, classification,
   rate-limit headers) and its paginator;
3. ``batches`` — the connector's :class:`~segsync.connector.ContactBatch` of each page;
4. ``staged`` — each batch encoded (:class:`~segsync.pipeline.batches.BatchEncoder`) and
   written to a staging file (:class:`~segsync.pipeline.staging.StagingWriter`).

Each way runs twice: with the connector's limit at 1,000 requests per 10 s (the most it takes),
where no request waits, and at HubSpot's default limit (100 per 10 s), where the pull sleeps
between runs of requests (the simulated portal never refuses: the client's pacer is what is
measured). It prints CPU milliseconds per page for each (the process's user + system time over
the reading from the second page on: not its start-up, nor the first page's connection and
first calls), the least of ``--rounds``. The measured process freezes what its imports made
out of the cyclic collector's way, as the CLI does; without that, each full collection walks
every imported object and a page's encoding looks about 1.5 ms dearer than it is.
What a layer adds is the difference between two lines; what pacing adds is the difference
between the columns: a process woken from a sleep pays for it (on the 2-core VMs these
figures come from, a wake-up after a long sleep cost ~0.25 ms, and a page read just after one
costs more than one read back to back), which is why the pacer lets a tenth of the budget run
back to back (``segsync.http.pacing``).

The imports, configuration and store of a whole ``segsync pull`` are not here:
``benchmarks/hubspot.py`` measures the whole command. Usage:

    .venv/bin/python benchmarks/page_cost.py [--contacts 20000] [--rounds 3]
        [--ways httpx,pages,batches,staged]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from hubspot import TOKEN, seeded_portal

WAYS = ("httpx", "pages", "batches", "staged")
UNPACED, PACED = 1000, 100  # requests per 10 s

# the measured process: reads every page one way and prints its CPU ms per page
CHILD = r"""
import asyncio, datetime as dt, gc, sys, tempfile, time
from pathlib import Path

import httpx

from segsync.config.load import load_config
from segsync.connector import ConnectorContext
from segsync.connectors.hubspot.connector import HubSpotConnector
from segsync.connectors.hubspot.settings import HubSpotSettings
from segsync.connectors.hubspot.source import contact_properties
from segsync.http import Pacer
from segsync.pipeline.batches import BatchEncoder
from segsync.pipeline.staging import CONTACT_COLUMNS, StagingWriter
from segsync.pipeline.tally import WarningTally
from segsync.plugins import load_plugins

base, token, way, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    settings = HubSpotSettings(token=token, base_url=base, requests_per_10s=limit, deals=False,
                               properties={"first_name": "firstname"})
    connector = HubSpotConnector(settings, ConnectorContext("hubspot", folder, folder / "w"))
    (folder / "segsync.toml").write_text('[store]\npath = "x.duckdb"\n[attributes]\n'
                                         'first_name = "text"\n')
    config = load_config(folder / "segsync.toml", load_plugins())
    encoder = BatchEncoder(config, settings, WarningTally("hubspot contacts"),
                           dt.datetime.now(dt.UTC))
    gc.freeze()  # as the CLI does once its modules are loaded
    began: float | None = None  # CPU once the first page is done: its connection and first
    pages = 0  # calls are not counted; pages done since

    def done() -> None:
        nonlocal began, pages
        if began is None:
            began = time.process_time()
        else:
            pages += 1

    with (folder / "staged.csv").open("w", encoding="utf-8", newline="") as out:
        writer = StagingWriter(out, CONTACT_COLUMNS)
        if way == "httpx":
            properties = ",".join(contact_properties(settings))
            pacer = Pacer(limit, 10.0)  # as the connector's client paces
            async with httpx.AsyncClient(base_url=base, trust_env=False,
                                         headers={"Authorization": f"Bearer {token}"}) as client:
                after = None
                while True:
                    params = {"limit": 100, "properties": properties}
                    if after:
                        params["after"] = after
                    async with pacer.slot():
                        got = await client.get("/crm/v3/objects/contacts", params=params)
                    answer = got.json()
                    done()
                    after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                    if not after:
                        break
        elif way == "pages":
            async for _ in connector.source._full():
                done()
        else:
            seq = 0
            async for page in connector.source.contacts(None):
                if way == "staged":
                    writer.write_rows(encoder.encode(page.records, seq + 1))
                    seq += len(page.records)
                done()
        used = time.process_time() - (began or 0.0)
    await connector.aclose()
    print(f"{used / max(pages, 1) * 1000:.3f}")


asyncio.run(main())
"""


def measure(base_url: str, way: str, limit: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, base_url, TOKEN, way, str(limit)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{way} at {limit}/10 s failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ways", default=",".join(WAYS))
    args = parser.parse_args()
    ways = [w for w in args.ways.split(",") if w]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"--ways: unknown {', '.join(unknown)} (expected some of {', '.join(WAYS)})")
    # a portal that never refuses: the client's own pacer is what is measured
    sim = seeded_portal(args.contacts, burst=1_000_000, daily=100_000_000)
    pages = -(-args.contacts // 100)
    print(
        f"{args.contacts:,} contacts, {pages:,} pages; CPU ms per page, least of {args.rounds} "
        f"(a paced read takes ~{pages / 10:.0f} s)",
        flush=True,
    )
    print(f"{'':>8} {'unpaced':>8} {'paced':>8} {'paced - unpaced':>16}", flush=True)
    with sim.serve() as served:
        for way in ways:
            best = {UNPACED: float("inf"), PACED: float("inf")}
            for _ in range(args.rounds):
                for limit in best:
                    best[limit] = min(best[limit], measure(served.base_url, way, limit))
            print(
                f"{way:>8} {best[UNPACED]:8.3f} {best[PACED]:8.3f} "
                f"{best[PACED] - best[UNPACED]:16.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
