"""A simulator of Google's Data Manager API (v1) for Customer Match, faithful to
``/work/shared/reference/platform-apis.md`` §4. One module per concern:

* :mod:`.oauth` — ``POST /token`` (service-account JWT-bearer and refresh-token grants, Google's
  ``{"error", "error_description"}`` bodies) and bearer checks, self-signed JWTs included;
* :mod:`.accounts` — Cloud projects (API enabled, allowlisted) and Google Ads accounts, their
  managers and users: who may reach which account, directly or through a login account;
* :mod:`.userlists` (+ :mod:`.filters`) — ``accountTypes/GOOGLE_ADS/accounts/{id}/userLists``
  create/get/list/update/delete;
* :mod:`.ingest` — ``audienceMembers:ingest``, ``:remove``, ``:removeAll``: fast-fail validation,
  then asynchronous application;
* :mod:`.status` — ``requestStatus:retrieve`` diagnostics;
* :mod:`.quota` — per-project per-minute and per-day quotas per service class → 429;
* :mod:`.matching` — the seeded "Google users" uploads match against;
* :mod:`.memberships` — members per list, their upload time and expiry;
* :mod:`.errors`, :mod:`.wire` — ``{"error": google.rpc.Status}``; enums (names or integers in,
  names out), int64 strings, Duration ``"Ns"``, request-message parsing;
* :mod:`.app` — :class:`DataManagerSimulator`: routes (with and without a trailing slash),
  the call pipeline, sandbox hooks and inspection helpers.

Reaching it with the official client (``google-ads-datamanager``)::

    opts = {"api_endpoint": served.base_url}
    client = dm.IngestionServiceClient(transport="rest", credentials=creds, client_options=opts)

with ``creds`` a service account from :meth:`DataManagerSimulator.new_service_account` (its
key file's ``token_uri`` points at the simulator), ``google.oauth2.credentials.Credentials``
with a token or refresh token, or ``AnonymousCredentials`` when built with
``allow_anonymous=True``.
"""

from .app import DataManagerSimulator
from .quota import QuotaLimits

__all__ = ["DataManagerSimulator", "QuotaLimits"]
