"""The settings of a ``type = "google_ads"`` connector instance (``[connectors.NAME]``).

One instance is one Google Ads account (``operating_account_id``) reached through the Data
Manager API with one credential: either a **user OAuth client** (``client_id``,
``client_secret``, ``refresh_token``) or a **service account** key
(``service_account_key_file``, the JSON key Google issues). Several syncs may push to one
instance: each gets its own Customer Match list.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from segsync.connector import ConnectorSettings

__all__ = ["GOOGLE_TOKEN_URI", "MAX_MEMBERSHIP_DAYS", "GoogleAdsSettings", "ServiceAccountKey"]

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
"""Google's OAuth 2.0 token endpoint (and the audience of a service account's assertion)."""
MAX_MEMBERSHIP_DAYS = 540
"""The longest membership Customer Match keeps (since 2025-04-07)."""
_ACCOUNT = re.compile(r"^\d{3}-?\d{3}-?\d{4}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class ServiceAccountKey:
    """The parts of a service account's JSON key segsync uses; ``repr`` hides the key."""

    def __init__(self, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError(
                "service_account_key: not a JSON key file (download one from Google Cloud "
                "console: IAM & Admin → Service accounts → Keys → Add key → JSON)"
            ) from None
        if not isinstance(data, dict) or data.get("type") != "service_account":
            raise ValueError(
                'service_account_key: expected a key file with "type": "service_account"'
            )
        missing = [k for k in ("client_email", "private_key") if not data.get(k)]
        if missing:
            raise ValueError(f"service_account_key: the key file has no {', '.join(missing)}")
        self.client_email = str(data["client_email"])
        self.key_id: str | None = (
            str(data["private_key_id"]) if data.get("private_key_id") else None
        )
        self.project_id: str | None = str(data["project_id"]) if data.get("project_id") else None
        self.private_key = SecretStr(str(data["private_key"]))
        self.token_uri: str | None = str(data["token_uri"]) if data.get("token_uri") else None

    def __repr__(self) -> str:
        return f"ServiceAccountKey(client_email={self.client_email!r}, private_key=**)"


class GoogleAdsSettings(ConnectorSettings):
    # never echo a secret in a validation error
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    operating_account_id: str
    """The Google Ads account that owns the Customer Match lists: 10 digits (``123-456-7890``
    is accepted and written without hyphens)."""
    login_account_id: str | None = None
    """The manager account the credential reaches ``operating_account_id`` through, when the
    credential's Google account (or service account) is a user of the manager, not of the
    account itself."""
    account_type: Literal["GOOGLE_ADS"] = "GOOGLE_ADS"
    """The kind of account (Customer Match lists live in Google Ads accounts)."""

    client_id: str | None = None
    """User OAuth: the OAuth client's id (``….apps.googleusercontent.com``)."""
    client_secret: SecretStr | None = None
    """User OAuth: the client secret (``client_secret_file``, or
    ``SEGSYNC_CONNECTORS__<NAME>__CLIENT_SECRET``)."""
    refresh_token: SecretStr | None = None
    """User OAuth: a refresh token granted for the ``datamanager`` scope
    (``refresh_token_file``, or ``SEGSYNC_CONNECTORS__<NAME>__REFRESH_TOKEN``)."""
    service_account_key: SecretStr | None = None
    """A service account's JSON key: ``service_account_key_file = "/run/secrets/key.json"``
    (or the JSON itself in ``SEGSYNC_CONNECTORS__<NAME>__SERVICE_ACCOUNT_KEY``)."""
    quota_project: str | None = None
    """The Google Cloud project whose quota the calls use (``x-goog-user-project``): needed
    with user OAuth; a service account uses its own project unless this says otherwise."""
    token_uri: str = GOOGLE_TOKEN_URI
    """Where access tokens are fetched. Only for ``segsync sandbox``."""
    base_url: str = "https://datamanager.googleapis.com"
    """Point at ``segsync sandbox`` (``http://127.0.0.1:PORT``) to run without an account."""

    membership_days: int = Field(default=MAX_MEMBERSHIP_DAYS, ge=1, le=MAX_MEMBERSHIP_DAYS)
    """How long Google keeps a member on a list segsync creates, from its last upload (at most
    540). segsync re-uploads members before then (a sync's ``refresh_days``)."""
    members_per_request: int = Field(default=10_000, ge=1, le=10_000)
    """Audience members per ingest/remove request (Google's maximum and recommendation:
    10,000)."""
    requests_per_minute: int = Field(default=300, ge=1, le=100_000)
    """The Cloud project's quota per minute for each service (300 by default): member uploads
    (IngestionService) and list calls (UserListService) are paced apart, each under it, as
    Google counts them. Every instance using the same project shares them: segsync paces
    them together."""
    concurrency: int = Field(default=10, ge=1, le=10)
    """Requests in flight at once (Google: at most 10)."""
    send_phone: bool = True
    """Send each member's phone number (hashed) beside the email, which raises match rates."""

    @field_validator("operating_account_id", "login_account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _ACCOUNT.match(value):
            raise ValueError(
                f"expected a Google Ads customer id of 10 digits (123-456-7890), got {value!r}"
            )
        return value.replace("-", "")

    @field_validator("quota_project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT.match(value):
            raise ValueError(
                f"expected a Google Cloud project id (6 to 30 lower-case letters, digits and "
                f"hyphens), got {value!r}"
            )
        return value

    @field_validator("base_url", "token_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleAdsSettings:
        user = {"client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token}  # fmt: skip
        given = [k for k, v in user.items() if v is not None]
        if self.service_account_key is not None:
            if given:
                raise ValueError(
                    f"give either service_account_key or client_id/client_secret/refresh_token, "
                    f"not both (found {', '.join(given)} too)"
                )
            self.service_account()  # a readable key, or a clear error
            return self
        if len(given) != len(user):
            missing = [k for k in user if user[k] is None]
            raise ValueError(
                f"missing {', '.join(missing)}: give client_id, client_secret and refresh_token "
                "(user OAuth), or service_account_key_file (a service account)"
            )
        if self.quota_project is None:
            raise ValueError(
                "quota_project is required with user OAuth: the Google Cloud project that owns "
                "the OAuth client and has the Data Manager API enabled"
            )
        return self

    def service_account(self) -> ServiceAccountKey | None:
        """The service account key, parsed; None with user OAuth."""
        if self.service_account_key is None:
            return None
        return ServiceAccountKey(self.service_account_key.get_secret_value())

    def project(self) -> str:
        """The Cloud project whose quota the calls count against (pacing is shared by it)."""
        if self.quota_project:
            return self.quota_project
        key = self.service_account()
        if key is not None and key.project_id:
            return key.project_id
        return key.client_email if key is not None else str(self.client_id)

    def login_path(self) -> str | None:
        """``accountTypes/GOOGLE_ADS/accounts/{login}`` for the ``login-account`` header."""
        if self.login_account_id is None:
            return None
        return f"accountTypes/{self.account_type}/accounts/{self.login_account_id}"

    def product_account(self, account_id: str) -> dict[str, Any]:
        return {"accountType": self.account_type, "accountId": account_id}
