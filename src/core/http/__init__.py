"""segsync.http: the one HTTP client every connector uses.

:func:`connect` makes a connector's client in one call. :class:`HttpClient` paces
(:class:`Pacer`), retries (:class:`RetryPolicy`), classifies (:func:`classify_response`) and
counts (:class:`HttpStats`); auth flows, paginators and batching helpers plug into it.
"""

from .auth import (
    BasicAuth,
    BearerAuth,
    ClientCredentialsGrant,
    FileTokenStore,
    Grant,
    JwtBearerGrant,
    OAuth2Auth,
    RefreshTokenGrant,
    RefreshTokenStore,
    Token,
    TokenCache,
)
from .batching import chunks, json_size
from .classify import classify_response, platform_message, redact_url
from .client import USER_AGENT, HttpClient, HttpStats, LimitsReader
from .connect import connect
from .pacing import Pacer, PacerChain, credential_key, pacer_for, reset_pacers
from .paginate import CursorPaginator, NextUrlPaginator, OffsetPaginator, Paginator, paginate
from .retry import RetryPolicy, map_transport_error, parse_retry_after, with_retries

__all__ = [
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
