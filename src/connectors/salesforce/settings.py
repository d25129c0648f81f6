"""The settings of a ``type = "salesforce"`` connector instance (``[connectors.NAME]``)."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from segsync.connector import SourceSettings

__all__ = ["LOGIN_HOSTS", "SalesforceSettings"]

#: the generic login hosts: the JWT bearer flow's audiences, never a client-credentials host
LOGIN_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^(\d{2,3})\.0$")


def _field_names(value: dict[str, str], key: str) -> dict[str, str]:
    for attribute, name in value.items():
        if not _FIELD.match(name):
            raise ValueError(
                f"{key}.{attribute}: {name!r} is not a Salesforce field's API name (letters, "
                "digits and underscores, e.g. FirstName or Segment__c)"
            )
    return value


class SalesforceSettings(SourceSettings):
    # -- where and who ---------------------------------------------------------------------
    login_url: str = "https://login.salesforce.com"
    """Where the token endpoint is: your My Domain URL (``https://acme.my.salesforce.com``),
    which the client credentials flow requires; ``https://login.salesforce.com`` (or
    ``test.salesforce.com`` for a sandbox org) works for the JWT bearer and refresh token
    flows. The API host is the ``instance_url`` the token answer names."""
    auth: Literal["client_credentials", "jwt_bearer", "refresh_token"] = "client_credentials"
    """The OAuth 2.0 flow of the External Client App: ``client_credentials`` (consumer key
    and secret; the app runs as its Run-As user), ``jwt_bearer`` (consumer key, a username and
    the private key of the certificate uploaded to the app) or ``refresh_token`` (a refresh
    token from a one-time web-server authorisation; rotated tokens are kept)."""
    client_id: str = Field(min_length=1)
    """The app's consumer key."""
    client_secret: SecretStr | None = None
    """The app's consumer secret (client credentials, refresh token): ``client_secret_file``
    or ``SEGSYNC_CONNECTORS__<NAME>__CLIENT_SECRET``."""
    username: str | None = None
    """The JWT bearer flow's user (pre-authorised for the app)."""
    private_key: SecretStr | None = None
    """The JWT bearer flow's PEM private key: ``private_key_file = "/run/secrets/sf.key"``."""
    jwt_audience: str | None = None
    """The JWT ``aud`` claim: ``https://login.salesforce.com`` (default; ``test.salesforce.com``
    when ``login_url`` is that), or an Experience Cloud site URL — never the My Domain URL."""
    refresh_token: SecretStr | None = None
    """The refresh token flow's token. When the app rotates refresh tokens, the newest one is
    kept in the instance's work folder (``<store>.work/connectors/<NAME>/``) and used from then
    on, until this setting names another token."""
    api_version: str = "66.0"
    """The REST API version (``66.0`` Spring '26 … ``68.0`` Winter '27); pinned, so a release
    never changes what segsync reads."""
    ca_bundle: str | None = None
    """A PEM file of the only certificate authorities to trust (the sandbox's local CA, or a
    TLS-inspecting proxy's); default: the system's."""

    # -- limits --------------------------------------------------------------------------------
    concurrency: int = Field(default=4, ge=1, le=25)
    """Requests in flight at once (Salesforce caps requests running 20 s or more at 25 per
    org; short ones are not capped). Also how many campaign batches are in flight."""
    max_api_usage: float = Field(default=0.9, gt=0.0, le=1.0)
    """Stop (the sync is deferred, exit 1) once the org's API usage, as every answer's
    ``Sforce-Limit-Info`` reports it, reaches this share of the daily allocation, leaving the
    rest to the org's other integrations."""
    max_uri_bytes: int = Field(default=8000, ge=1000, le=16_000)
    """Queries with long ``IN (...)`` lists are split to keep each URI under this size
    (Salesforce refuses more than 16,384 bytes of URI and headers)."""

    # -- reading -------------------------------------------------------------------------------
    page_size: int = Field(default=2000, ge=200, le=2000)
    """Rows per REST query page (``Sforce-Query-Options: batchSize``)."""
    bulk_queries: bool = True
    """Read large queries with Bulk API 2.0 query jobs (see ``bulk_threshold``); false: always
    REST pages."""
    bulk_threshold: int = Field(default=50_000, ge=0)
    """A query whose first REST page says it has more rows than this reads the rest with a
    Bulk API 2.0 query job (one call per ``bulk_page_size`` rows rather than per 2,000)."""
    bulk_page_size: int = Field(default=50_000, ge=1000, le=1_000_000)
    """Rows per Bulk API 2.0 result page (``maxRecords``)."""
    bulk_poll_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    """The first wait between polls of a Bulk API 2.0 job (doubling, up to 30 s)."""
    leads: bool = True
    """Read Leads as well as Contacts."""
    contact_fields: dict[str, str] = Field(default_factory=dict)
    """Profile attribute ← Contact field, e.g. ``{first_name = "FirstName"}``."""
    lead_fields: dict[str, str] = Field(default_factory=dict)
    """Profile attribute ← Lead field, e.g. ``{first_name = "FirstName", company = "Company"}``."""
    overlap_minutes: float = Field(default=10.0, ge=0)
    """An incremental pull re-reads records changed this long before the previous pull began
    (``SystemModstamp``), so clock skew never loses a change."""
    full_refresh_days: float | None = Field(default=7.0, gt=0)
    """Read everything again (a snapshot, which drops records deleted in Salesforce) when the
    last full pull is older than this; None: only on the first pull and ``--full``."""
    consent_history: bool = True
    """Date ``HasOptedOutOfEmail`` answers by the field history (ContactHistory, LeadHistory:
    field history tracking must be on for that field). Off: answers are dated by the pull that
    first sees them."""
    opportunities: bool = True
    """Read closed-won Opportunities as ``order`` events, attributed through their contact
    roles (the primary contact first)."""
    multi_currency: bool = False
    """The org has multi-currency on: read each Opportunity's ``CurrencyIsoCode``."""
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """The currency of Opportunity amounts without their own (the org's corporate currency)."""

    # -- writing -------------------------------------------------------------------------------
    member_status: str | None = None
    """The campaign member status segsync gives the people it adds (created on the campaign
    when missing); None: the campaign's default status ("Sent" on a new campaign)."""
    member_statuses: dict[str, str] = Field(default_factory=dict)
    """Per-sync member statuses, by sync name: ``{vip_event = "Invited"}``."""
    campaign_active: bool = True
    """Create campaigns active (``IsActive``)."""
    lead_company: str = "[not provided]"
    """``Company`` of the Leads ``on_missing = "create"`` makes (a required field)."""
    lead_last_name: str = "[not provided]"
    """``LastName`` of those Leads (required; segsync does not send names)."""
    lead_source: str | None = None
    """``LeadSource`` of those Leads (a picklist value of your org), e.g. ``"segsync"``."""
    allow_duplicate_save: bool = False
    """Send ``Sforce-Duplicate-Rule-Header: allowSave=true`` when creating Leads, so duplicate
    rules whose action is *Alert* let the Lead through (*Block* rules still refuse it; segsync
    then adds the matching record the rule names)."""

    # -- erasure -------------------------------------------------------------------------------
    erase_records: Literal["off", "delete", "anonymise"] = "off"
    """What ``segsync forget`` does to a person's Contacts and Leads here, besides removing
    them from campaigns: nothing, ``delete`` them (to the Recycle Bin), or ``anonymise`` them
    (see docs/connectors/salesforce.md for what is overwritten)."""

    @field_validator("login_url", "jwt_audience")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        match = _VERSION.match(value.removeprefix("v"))
        if match is None or not 31 <= int(match.group(1)) <= 99:
            raise ValueError(f"expected an API version such as '66.0', got {value!r}")
        return value.removeprefix("v")

    @field_validator("contact_fields")
    @classmethod
    def _contact_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _field_names(value, "contact_fields")

    @field_validator("lead_fields")
    @classmethod
    def _lead_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _field_names(value, "lead_fields")

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        needs = {
            "client_credentials": ("client_secret",),
            "jwt_bearer": ("username", "private_key"),
            "refresh_token": ("client_secret", "refresh_token"),
        }[self.auth]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"auth = {self.auth!r} needs {' and '.join(missing)} (secrets from the "
                f"environment or a *_file setting)"
            )
        if self.auth == "client_credentials" and self.login_url in LOGIN_HOSTS:
            raise ValueError(
                "the client credentials flow needs your My Domain URL as login_url "
                "(https://<MyDomain>.my.salesforce.com), not the generic login host"
            )
        return self

    @property
    def audience(self) -> str:
        """The JWT ``aud`` claim."""
        if self.jwt_audience:
            return self.jwt_audience
        return LOGIN_HOSTS[1] if self.login_url == LOGIN_HOSTS[1] else LOGIN_HOSTS[0]

    def status_for(self, sync: str) -> str | None:
        """The member status of ``sync``'s campaign members (None: the campaign's default)."""
        return self.member_statuses.get(sync, self.member_status)
