"""A simulator of the HubSpot CRM v3 API where segsync touches it, faithful to
``/work/shared/reference/platform-apis.md`` §1. One module per API resource:

* :mod:`.objects` — contacts: the store, ``GET /crm/v3/objects/contacts[/{id}]`` (cursor
  paging by id, ``properties``, ``propertiesWithHistory``, ``associations``);
* :mod:`.search` — ``POST /crm/v3/objects/contacts/search``;
* :mod:`.batch` — ``POST /crm/v3/objects/contacts/batch/{read,update,upsert}`` (200/207);
* :mod:`.deals` — ``GET /crm/v3/objects/deals`` and deal ↔ contact associations;
* :mod:`.properties` — contact property definitions;
* :mod:`.lists` — Lists v3: MANUAL lists and their memberships (``recordsIdsAdded``, sic);
* :mod:`.schemas` — ``GET /crm/v3/schemas``: custom object schemas;
* :mod:`.limits` — scopes, the daily and search limits, ``X-HubSpot-RateLimit-*`` headers;
* :mod:`.errors` — the error envelope and the correlation id;
* :mod:`.seed` — the sandbox's contacts;
* :mod:`.app` — :class:`HubSpotSimulator`: constructor arguments (every "(inferred)"
  behaviour is one), routes, the base's hooks and inspection helpers.

Reaching it with the official client (``hubspot-api-client``)::

    client = hubspot.Client.create(access_token=token, host=served.base_url)
"""

from .app import DEFAULT_TOKEN, HubSpotSimulator

__all__ = ["DEFAULT_TOKEN", "HubSpotSimulator"]
