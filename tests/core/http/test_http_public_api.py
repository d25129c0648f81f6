from __future__ import annotations

import importlib

import segsync.http

MODULES = ["auth", "batching", "classify", "client", "pacing", "paginate", "retry"]


def test_public_names_are_pinned() -> None:
    assert sorted(segsync.http.__all__) == sorted(
        [
            "USER_AGENT",
            "BasicAuth",
            "BearerAuth",
            "ClientCredentialsGrant",
            "CursorPaginator",
            "FileTokenStore",
            "Grant",
            "HttpClient",
            "HttpStats",
            "JwtBearerGrant",
            "LimitsReader",
            "NextUrlPaginator",
            "OAuth2Auth",
            "OffsetPaginator",
            "Pacer",
            "PacerChain",
            "Paginator",
            "RefreshTokenGrant",
            "RefreshTokenStore",
            "RetryPolicy",
            "Token",
            "TokenCache",
            "chunks",
            "classify_response",
            "connect",
            "credential_key",
            "json_size",
            "map_transport_error",
            "pacer_for",
            "paginate",
            "parse_retry_after",
            "platform_message",
            "redact_url",
            "reset_pacers",
            "with_retries",
        ]
    )


def test_every_module_declares_and_exports_its_names() -> None:
    for name in MODULES:
        module = importlib.import_module(f"segsync.http.{name}")
        assert module.__doc__, name
        for public in module.__all__:
            assert hasattr(module, public), (name, public)
