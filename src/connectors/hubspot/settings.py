"""The settings of a ``type = "hubspot"`` connector instance (``[connectors.NAME]``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from segsync.connector import SourceSettings

__all__ = ["HubSpotSettings"]

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotSettings(SourceSettings):
    token: SecretStr
    """A private-app (static auth) token: ``token_file``, or
    ``SEGSYNC_CONNECTORS__<NAME>__TOKEN``. Never written to the config file in clear."""
    base_url: str = "https://api.hubapi.com"
    """Point at ``segsync sandbox`` (``http://127.0.0.1:PORT``) to run without an account."""

    requests_per_10s: int = Field(default=100, ge=1, le=1000)
    """The account's burst limit: 100 on Free/Starter, 190 on Professional/Enterprise, 250 with
    the capacity pack. Pacing tightens further from the X-HubSpot-RateLimit headers."""
    search_per_second: int = Field(default=4, ge=1, le=100)
    """The CRM search limit per token (incremental pulls use search)."""
    concurrency: int = Field(default=4, ge=1, le=32)
    """Requests in flight at once."""

    properties: dict[str, str] = Field(default_factory=dict)
    """Profile attribute ← HubSpot contact property, e.g. ``{first_name = "firstname"}``.
    Only attributes declared in ``[attributes]`` are kept."""
    page_size: int = Field(default=100, ge=1, le=100)
    """Contacts per page on a full pull (HubSpot's maximum is 100)."""
    search_page_size: int = Field(default=200, ge=1, le=200)
    """Contacts per page on an incremental pull (HubSpot's search maximum is 200)."""
    search_result_cap: int = Field(default=10_000, ge=200)
    """How far one search can page before HubSpot answers 400; incremental pulls restart the
    search past this point, so any number of changed contacts is pulled."""
    overlap_minutes: float = Field(default=10.0, ge=0)
    """An incremental pull re-reads contacts changed this long before the previous pull began,
    so clock skew between segsync and HubSpot never loses a change."""
    consent_history: bool = True
    """Date each consent answer by when its property took its value (one batch read with
    ``propertiesWithHistory`` per 100 contacts with an answer). Off: answers are dated by
    segsync's pulls (when a change is first seen), never by ``lastmodifieddate``."""
    full_refresh_days: float | None = Field(default=7.0, gt=0)
    """Read every contact again (a snapshot, which drops contacts deleted in HubSpot) when the
    last full pull is older than this; None: only on the first pull and ``--full``."""

    deals: bool = True
    """Pull won deals as ``order`` events (amount, close date, first associated contact)."""
    won_stages: list[str] = Field(default_factory=lambda: ["closedwon"], min_length=1)
    """Deal stages that count as won (the internal stage ids of your pipelines)."""
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """The currency of deals whose ``deal_currency_code`` is empty (ISO 4217)."""

    erase_records: Literal["off", "delete"] = "off"
    """``segsync forget`` on this instance: ``off`` removes the person from segsync's lists
    and properties only; ``delete`` also deletes their contact for good (HubSpot's GDPR
    delete: the contact and its associated content, never restorable)."""

    membership_chunk: int = Field(default=10_000, ge=1, le=100_000)
    """Record ids per list-membership call. HubSpot documents no limit; 10,000 is safe."""
    audience_property: str = "segsync_segments"
    """The multi-checkbox contact property that ``kind = "property"`` syncs write."""
    audience_property_label: str = "segsync segments"
    property_group: str = "contactinformation"
    """The property group the audience property is created in."""

    @field_validator("audience_property")
    @classmethod
    def _property_name(cls, value: str) -> str:
        if not _PROPERTY_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a HubSpot property name: use lower-case letters, digits "
                "and underscores, starting with a letter"
            )
        return value

    @field_validator("properties")
    @classmethod
    def _property_names(cls, value: dict[str, str]) -> dict[str, str]:
        for attribute, prop in value.items():
            if not _PROPERTY_NAME.match(prop):
                raise ValueError(
                    f"properties.{attribute}: {prop!r} is not a HubSpot property's internal "
                    "name (lower-case letters, digits and underscores)"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")
