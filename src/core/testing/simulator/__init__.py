"""The base of every platform simulator: an ASGI app with auth, rate limits and fault injection.

A platform simulator (HubSpot, Mailchimp, ...) subclasses :class:`Simulator`, returns its
platform's routes from :meth:`Simulator.routes`, raises its own :class:`PlatformError` subclass
for error answers and fills in the hooks so errors, 429s and rate-limit headers look exactly
like the real API's::

    class MailjetError(PlatformError):
        pass

    class MailjetSimulator(Simulator):
        name = "mailjet"

        def routes(self) -> list[BaseRoute]:
            return [Route("/v3/contacts", self.list_contacts)]

        async def list_contacts(self, request: Request) -> Response:
            limit = query_int(request, "Limit", default=10, low=1, high=1000)
            ...

        def error_envelope(self, request, error):
            return JSONResponse({"ErrorMessage": error.message}, status_code=error.status)

        def rate_limited_response(self, request, retry_after):
            return JSONResponse({"ErrorMessage": "Too many requests"}, status_code=429)

The pieces:

* :mod:`.base` — :class:`Simulator` (credentials, the hooks, inspection, the app) and
  :class:`PlatformError`;
* :mod:`.pipeline` — what every request goes through (trailing slash, auth, concurrency cap,
  rolling window, faults, route, request log), with :class:`RateLimit`, :class:`Faults`,
  :class:`RequestRecord` and :class:`SimulatedDisconnect`;
* :mod:`.serve` — :class:`ServedSimulator`: loopback only, plain HTTP or TLS, ``TCP_NODELAY``;
* :mod:`.inputs` — query parameters (integers within bounds, comma lists, booleans) and JSON
  bodies, refused as :class:`InputError`, which :meth:`Simulator.input_error` words the
  platform's way;
* :mod:`.paging` — :func:`offset_page` and :class:`SortedIds` (cursor pages in O(page));
* :mod:`.ids` — :class:`IdSource`, reproducible ids per seed.

Every route answers with and without a trailing slash: the pipeline routes the path without
it (official clients send ``POST /crm/v3/lists/`` and ``GET …/query/?q=``).
"""

from .base import PlatformError, Simulator
from .ids import IdSource
from .inputs import (
    InputError,
    json_body,
    parse_json,
    query_bool,
    query_csv,
    query_int,
    query_param,
)
from .paging import SortedIds, offset_page
from .pipeline import Faults, RateLimit, RequestRecord, SimulatedDisconnect
from .serve import ServedSimulator

__all__ = [
    "Faults",
    "IdSource",
    "InputError",
    "PlatformError",
    "RateLimit",
    "RequestRecord",
    "ServedSimulator",
    "SimulatedDisconnect",
    "Simulator",
    "SortedIds",
    "json_body",
    "offset_page",
    "parse_json",
    "query_bool",
    "query_csv",
    "query_int",
    "query_param",
]
