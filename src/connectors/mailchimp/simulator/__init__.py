"""A simulator of the Mailchimp Marketing API v3 where segsync touches it, faithful to
``/work/shared/reference/platform-apis.md`` §2. One module per API resource:

* :mod:`.audiences` — the account root, ``/ping``, audiences (lists) with their ``stats``;
* :mod:`.members` — the member store and ``/lists/{id}/members[/{hash}]``;
* :mod:`.batch` — batch subscribe, ``POST /lists/{id}`` (≤ 500 members);
* :mod:`.tags` — tags (static segments), segments, bulk tag changes, tag search;
* :mod:`.merge_fields` — merge field definitions;
* :mod:`.ecommerce` — stores and orders;
* :mod:`.answers` — JSON answers, ``_links``, ``fields``/``exclude_fields``, paged
  collections;
* :mod:`.auth` — API keys, OAuth tokens and data centres;
* :mod:`.errors` — problem documents, the concurrency limit's 429, injected faults;
* :mod:`.seed` — seeding audiences (tests and ``segsync sandbox``);
* :mod:`.app` — :class:`MailchimpSimulator`: constructor arguments (every "(inferred)"
  behaviour is one), routes, the base's hooks, seeding and inspection helpers.

Reaching it with the official client (``mailchimp-marketing``)::

    client.set_config({"api_key": key})
    client.api_client.host = f"{served.base_url}/3.0"
"""

from .app import DEFAULT_API_KEY, MailchimpSimulator
from .members import subscriber_hash

__all__ = ["DEFAULT_API_KEY", "MailchimpSimulator", "subscriber_hash"]
