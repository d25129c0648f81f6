"""The Google Ads connector: segments out as Customer Match lists, through Google's Data
Manager API. A destination only (Google Ads holds no contacts to pull).

Everything generic comes from :mod:`segsync.http`: clients paced per Cloud project (the unit
of Google's quotas) and per service, as Google counts them — member uploads against the
IngestionService quota, list calls against the UserListService one, so a list lookup never
takes an upload's turn —, retried by the one policy, with OAuth 2.0 tokens (shared by both)
from a service account's signed assertion or a user's refresh token. Everything
Google-specific lives beside this module: :mod:`.api` (what the answers mean),
:mod:`.destination` (writing). Identifiers are normalised and hashed by
:mod:`segsync.model.identity`. See ``docs/connectors/google-ads.md``.
"""

from __future__ import annotations

from typing import Any

from segsync.connector import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Purpose,
)
from segsync.http import JwtBearerGrant, OAuth2Auth, RefreshTokenGrant, connect

from .api import classify
from .destination import KIND, CustomerMatchWriter
from .settings import GOOGLE_TOKEN_URI, GoogleAdsSettings

__all__ = ["DATAMANAGER_SCOPE", "GoogleAdsConnector"]

DATAMANAGER_SCOPE = "https://www.googleapis.com/auth/datamanager"
"""The OAuth 2.0 scope of the Data Manager API."""
_LIST_CONCURRENCY = 2
"""List calls in flight at once (a handful per sync; uploads get ``concurrency``)."""


def _auth(settings: GoogleAdsSettings) -> OAuth2Auth:
    key = settings.service_account()
    if key is None:
        assert settings.client_id and settings.client_secret and settings.refresh_token
        grant: JwtBearerGrant | RefreshTokenGrant = RefreshTokenGrant(
            settings.client_id, settings.client_secret, settings.refresh_token
        )
        return OAuth2Auth(settings.token_uri, grant)
    # the assertion's audience is Google's token endpoint wherever it is sent; the endpoint
    # is the key file's unless the settings name another (the sandbox)
    token_uri = (
        settings.token_uri
        if "token_uri" in settings.model_fields_set
        else (key.token_uri or GOOGLE_TOKEN_URI)
    )
    grant = JwtBearerGrant(
        key.client_email,
        "",
        GOOGLE_TOKEN_URI,
        key.private_key,
        lifetime=3600,
        scope=DATAMANAGER_SCOPE,
        key_id=key.key_id,
    )
    return OAuth2Auth(token_uri, grant)


class GoogleAdsConnector(Connector):
    name = "google_ads"
    description = "Google Ads Customer Match lists (hashed, consented) via the Data Manager API"
    Settings = GoogleAdsSettings
    capabilities = Capabilities(
        audience_kinds={KIND: frozenset({Purpose.AD_USER_DATA, Purpose.AD_PERSONALIZATION})},
        identifier="email",
        max_batch_size=10_000,
    )
    settings: GoogleAdsSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        headers = {"x-goog-user-project": s.quota_project} if s.quota_project else None
        auth = _auth(s)  # one token for both clients
        project = s.project()  # Google's quotas are per Cloud project, and per service
        self.http = connect(
            context,
            s.base_url,
            platform="google_ads",
            credential=project,
            auth=auth,
            requests=s.requests_per_minute,
            per=60.0,
            concurrency=_LIST_CONCURRENCY,
            classify=classify,
            headers=headers,
            timeout=120.0,
        )
        self.ingest_http = connect(
            context,
            s.base_url,
            platform="google_ads",
            credential=f"{project} ingestion",
            auth=auth,
            requests=s.requests_per_minute,
            per=60.0,
            concurrency=s.concurrency,
            classify=classify,
            headers=headers,
            timeout=120.0,
            name=f"google_ads:{context.instance}:ingestion",
        )
        self.destination: CustomerMatchWriter = CustomerMatchWriter(s, self.http, self.ingest_http)

    @classmethod
    def membership_days(cls, settings: ConnectorSettings, kind: str) -> int | None:
        """Members stay on a list ``membership_days`` after their last upload (≤ 540)."""
        assert isinstance(settings, GoogleAdsSettings)
        return settings.membership_days

    def http_stats(self) -> dict[str, Any]:
        return self.http.stats.merge(self.ingest_http.stats).as_dict()

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.ingest_http.aclose()

    async def check(self) -> CheckResult:
        s = self.settings
        await self.http.json(
            "GET",
            self.destination.lists_path,
            params={"pageSize": 1},
            headers=self.destination.list_headers,
        )
        via = f" through manager {s.login_account_id}" if s.login_account_id else ""
        return CheckResult(
            ok=True,
            detail=f"credential accepted; Google Ads account {s.operating_account_id} "
            f"reachable{via}; quota project {s.project()}, paced at {s.requests_per_minute} "
            "requests a minute",
        )
