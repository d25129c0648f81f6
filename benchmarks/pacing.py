"""Benchmark: how close the pacer runs to a platform's rate limit without tripping it.

Serves a tiny simulator (one ``GET /ping`` route) on loopback, limited to N requests per
rolling W-second window and C concurrent requests, and sends ``windows × N`` requests through
:class:`segsync.http.HttpClient` with ``Pacer(requests=N, window=W, concurrency=C)``. Prints the
achieved request rate as a fraction of the allowed rate (target ≥ 95 %) and the fraction of
attempts answered 429 (target ≤ 1 %). Usage:

    .venv/bin/python benchmarks/pacing.py [--requests 100] [--window 2] [--concurrency 8]
                                          [--windows 3] [--latency 0.005]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.http import BearerAuth, HttpClient, Pacer, RetryPolicy
from segsync.testing.simulator import Faults, RateLimit, Simulator

TOKEN = "bench-token"


class PingSimulator(Simulator):
    name = "ping"

    def routes(self) -> list[BaseRoute]:
        return [Route("/ping", self.ping)]

    async def ping(self, request: Request) -> Response:
        return JSONResponse({"ok": True})


async def drive(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    pacer = Pacer(requests=args.requests, window=args.window, concurrency=args.concurrency)
    total = args.requests * args.windows
    async with HttpClient(
        base_url,
        auth=BearerAuth(TOKEN),
        pacer=pacer,
        retry=RetryPolicy(max_attempts=10),
        max_connections=args.concurrency,
        name="bench",
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client.get("/ping") for _ in range(total)))
        elapsed = time.perf_counter() - started
        stats = client.stats.as_dict()
    allowed = args.requests / args.window
    return {
        "requests": total,
        "elapsed_s": round(elapsed, 3),
        "rate_per_s": round(total / elapsed, 2),
        "allowed_per_s": allowed,
        "rate_fraction": round(total / elapsed / allowed, 4),
        "client_stats": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.005, help="simulated server latency")
    args = parser.parse_args(argv)

    sim = PingSimulator(
        seed=0,
        rate_limit=RateLimit(
            requests=args.requests, window=args.window, concurrency=args.concurrency
        ),
        faults=Faults(latency=args.latency, latency_jitter=args.latency),
    )
    sim.add_credential(TOKEN)
    with sim.serve() as served:
        result = asyncio.run(drive(served.base_url, args))
    server = sim.stats()
    attempts = int(server["requests"])
    throttled = int(server["by_status"].get("429", 0))
    result["server_attempts"] = attempts
    result["throttled_fraction"] = round(throttled / attempts, 4) if attempts else 0.0
    result["server_by_status"] = server["by_status"]
    print(json.dumps(result, indent=2))
    ok = result["rate_fraction"] >= 0.95 and result["throttled_fraction"] <= 0.01
    print(
        f"achieved {result['rate_fraction']:.1%} of the allowed rate (target ≥ 95%), "
        f"{result['throttled_fraction']:.2%} of attempts throttled (target ≤ 1%): "
        + ("OK" if ok else "MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
