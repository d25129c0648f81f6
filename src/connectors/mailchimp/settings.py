"""The settings of a ``type = "mailchimp"`` connector instance (``[connectors.NAME]``).

One instance is one Mailchimp audience (``list_id``); sync several audiences with several
instances, each with its own ``list_id`` (they may share the API key: the concurrency cap is
per key, and so is segsync's pacing).
"""

from __future__ import annotations

import re
from typing import Literal

import httpx
from pydantic import ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from segsync.connector import SourceSettings

__all__ = ["MailchimpSettings", "key_datacenter"]

_DC = re.compile(r"^[a-z]+\d+$")
_MERGE_TAG = re.compile(r"^[A-Z0-9_]+$")
STATS_KEYS = ("avg_open_rate", "avg_click_rate")
"""The member ``stats`` segsync can map to attributes."""


def key_datacenter(key: str) -> str | None:
    """The data centre an API key names (``…-us21`` → ``us21``), or None."""
    _, dash, dc = key.rpartition("-")
    return dc if dash and _DC.match(dc) else None


class MailchimpSettings(SourceSettings):
    # never echo the API key in a validation error
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    list_id: str = Field(min_length=1)
    """The audience (list) id: *Audience → Settings → Audience name and defaults*."""
    base_url: str | None = None
    """Default ``https://<dc>.api.mailchimp.com/3.0``, the data centre taken from the API key.
    Point at ``segsync sandbox`` (``http://127.0.0.1:PORT``; ``/3.0`` is added when the URL
    has no path) to run without an account."""
    api_key: SecretStr
    """An API key (``…-us21``): ``api_key_file``, or ``SEGSYNC_CONNECTORS__<NAME>__API_KEY``.
    Never written to the config file in clear."""

    concurrency: int = Field(default=8, ge=1, le=10)
    """Requests in flight at once. Mailchimp allows 10 simultaneous connections per account
    (more answer 429): leave room for other tools using the same account."""
    page_size: int = Field(default=1000, ge=1, le=1000)
    """Members (and orders) per page; Mailchimp's maximum is 1000."""
    overlap_minutes: float = Field(default=10.0, ge=0)
    """An incremental pull re-reads members changed this long before the previous pull began,
    so clock skew between segsync and Mailchimp never loses a change."""
    full_refresh_days: float | None = Field(default=7.0, gt=0)
    """Read every member again (a snapshot, which drops archived members) when the last full
    pull is older than this; None: only on the first pull and ``--full``."""

    merge_fields: dict[str, str] = Field(default_factory=dict)
    """Profile attribute ← merge tag, e.g. ``{first_name = "FNAME"}``. Only attributes
    declared in ``[attributes]`` are kept."""
    stats: dict[str, str] = Field(default_factory=dict)
    """Profile attribute ← member statistic (``avg_open_rate``, ``avg_click_rate``)."""

    orders: bool = True
    """Pull e-commerce orders as ``order`` events."""
    store_ids: list[str] = Field(default_factory=list)
    """The stores whose orders are pulled; empty: every store connected to this audience."""

    new_members: Literal["skip", "pending"] = "skip"
    """What ``on_missing = "create"`` does for a profile *without* granted email-marketing
    consent: ``skip`` it (a permanent failure), or add it as ``pending`` (Mailchimp sends a
    double opt-in email). A profile with granted consent is added ``subscribed``."""

    erase_records: Literal["off", "delete"] = "off"
    """``segsync forget`` on this instance: ``off`` removes the person from segsync's tags
    only; ``delete`` also deletes them from the audience for good (Mailchimp's permanent
    delete: their data is gone and the address cannot be imported again)."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        value = value.rstrip("/")
        if httpx.URL(value).path in ("", "/"):
            value += "/3.0"
        return value

    @field_validator("api_key")
    @classmethod
    def _key_names_datacenter(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("base_url") is None and key_datacenter(value.get_secret_value()) is None:
            raise ValueError(
                "a Mailchimp API key ending with its data centre, like '…-us21' (the key "
                "given has no data-centre suffix; or set base_url)"
            )
        return value

    @field_validator("merge_fields")
    @classmethod
    def _merge_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for attribute, tag in value.items():
            if not _MERGE_TAG.match(tag):
                raise ValueError(
                    f"merge_fields.{attribute}: {tag!r} is not a merge tag (upper-case "
                    "letters, digits and '_', e.g. FNAME)"
                )
        return value

    @field_validator("stats")
    @classmethod
    def _stats_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for attribute, key in value.items():
            if key not in STATS_KEYS:
                raise ValueError(
                    f"stats.{attribute}: {key!r} is not a member statistic; expected one of "
                    f"{', '.join(STATS_KEYS)}"
                )
        return value

    @property
    def api_url(self) -> str:
        """The API root: ``base_url``, or the key's data centre's."""
        if self.base_url is not None:
            return self.base_url
        dc = key_datacenter(self.api_key.get_secret_value())
        return f"https://{dc}.api.mailchimp.com/3.0"
