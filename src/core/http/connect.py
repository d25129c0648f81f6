"""``connect()``: a connector's HTTP client in one call — paced to the platform's limits
(shared by every instance using the same credential), retried by the one policy, classified by
the platform's rules and counted for the run report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from .classify import classify_response
from .client import HttpClient, LimitsReader
from .pacing import Pacer, PacerChain, credential_key, pacer_for

if TYPE_CHECKING:
    from segsync.connector import ConnectorContext

__all__ = ["connect"]


def connect(
    context: ConnectorContext,
    base_url: str,
    *,
    platform: str,
    credential: SecretStr | str | None,
    auth: httpx.Auth | None = None,
    requests: int | None = None,
    per: float = 1.0,
    concurrency: int = 10,
    classify: Callable[[httpx.Response], None] = classify_response,
    read_limits: LimitsReader | None = None,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
    also_paced_by: Pacer | None = None,
    name: str | None = None,
    **options: Any,
) -> HttpClient:
    """The client for one connector instance's calls to ``base_url``.

    * **Pacing**: at most ``requests`` per ``per`` seconds (None: no rate limit) and
      ``concurrency`` in flight, per credential: every client made with the same
      ``platform``, ``base_url`` and ``credential`` shares one pacer, whichever instance
      makes it. ``also_paced_by`` adds a pacer the calls must also pass (a platform limit
      that covers a subset of the calls, e.g. HubSpot's search limit inside its burst limit).
      The rate-limit headers read by ``read_limits`` tighten pacing as answers arrive.
    * **Retries and errors**: 429, 5xx, timeouts and dropped connections are retried with
      capped, jittered backoff honouring ``Retry-After``; ``classify`` says what a failed
      answer means (default :func:`~segsync.http.classify_response`).
    * **Tests and the sandbox**: ``context.transport`` (a simulator's) replaces the network.

    ``options`` go to :class:`~segsync.http.HttpClient` as they are (``retry``, ``sleep``…).
    """
    shared = pacer_for(credential_key(platform, base_url, credential), requests, per, concurrency)
    pacer: Pacer | PacerChain = (
        shared if also_paced_by is None else PacerChain(also_paced_by, shared)
    )
    return HttpClient(
        base_url,
        auth=auth,
        pacer=pacer,
        transport=context.transport,
        classify=classify,
        read_limits=read_limits,
        max_connections=concurrency,
        timeout=timeout,
        headers=headers,
        name=name or f"{platform}:{context.instance}",
        **options,
    )
