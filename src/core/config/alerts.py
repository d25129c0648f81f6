"""``[alerts]``: where segsync says that a run failed, was blocked, deferred work, or recovered.

```toml
[alerts]
# report_url = "https://reports.example.org/segsync/latest.html"   # a link put in every alert

[alerts.targets.ops_slack]
type = "slack"                     # a Slack incoming webhook
# url: a secret — SEGSYNC_ALERTS__TARGETS__OPS_SLACK__URL or url_file = "/run/secrets/slack"
notify_on = ["failed", "blocked", "recovered"]

[alerts.targets.pager]
type = "webhook"                   # any JSON endpoint: the run's summary is POSTed
url_file = "/run/secrets/pager_url"

[alerts.targets.mail]
type = "email"                     # SMTP
host = "smtp.example.org"
sender = "segsync@example.org"
to = ["crm-team@example.org"]
# username = "segsync"; password: SEGSYNC_ALERTS__TARGETS__MAIL__PASSWORD or password_file

[alerts.targets.phone]
type = "apprise"                   # pip install 'segsync[apprise]': 100+ services by URL
# url: a secret (an Apprise URL such as "tgram://bottoken/ChatID")
```

Every target takes ``notify_on`` (default: all four events) and ``timeout_seconds``. URLs of
webhooks carry their credential in the URL itself, so every URL here is a secret: it may be
given as ``url_file`` (read from a file) or from the environment, and is never printed.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from segsync.connector import ConnectorSettings

__all__ = [
    "ALERT_EVENTS",
    "AlertEvent",
    "AlertTarget",
    "AlertsConfig",
    "AppriseTarget",
    "EmailTarget",
    "SlackTarget",
    "WebhookTarget",
]

AlertEvent = Literal["failed", "blocked", "deferred", "recovered"]
ALERT_EVENTS: tuple[AlertEvent, ...] = ("failed", "blocked", "deferred", "recovered")
"""``failed``: the run ended in error, a source failed, or records failed; ``blocked``: a guard
stopped a source or a sync; ``deferred``: a sync stopped early with its changes kept for the
next run (a used-up daily quota); ``recovered``: a run succeeded after one that did not."""


class _Target(ConnectorSettings):
    """What every target takes. (Built on :class:`~segsync.connector.ConnectorSettings` for
    its handling of secrets: ``NAME_file`` reads a secret from a file; unknown keys refused.)"""

    notify_on: list[AlertEvent] = Field(default_factory=lambda: list(ALERT_EVENTS), min_length=1)
    """The events this target hears about."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """The most one attempt to deliver may take; failed attempts are retried within twice
    this time in all, then the alert is given up (logged), never failing the run."""


class SlackTarget(_Target):
    type: Literal["slack"]
    url: SecretStr
    """The incoming webhook's URL (``https://hooks.slack.com/services/…``): a secret."""


class WebhookTarget(_Target):
    type: Literal["webhook"]
    url: SecretStr
    """The endpoint the JSON summary is POSTed to: a secret (tokens often ride in URLs)."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra headers, e.g. ``{Authorization = "Bearer …"}`` (secrets: set them from the
    environment, ``SEGSYNC_ALERTS__TARGETS__NAME__HEADERS__AUTHORIZATION``)."""


class EmailTarget(_Target):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65_535)
    """Default: 465 with ``security = "ssl"``, else 587 (25 with ``"none"``)."""
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    """The From address."""
    to: list[str] = Field(min_length=1)

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, v: str | list[str]) -> str | list[str]:
        for address in [v] if isinstance(v, str) else v:
            if address.count("@") != 1 or address.strip() != address or not address.strip("@"):
                raise ValueError(
                    f"expected an email address such as ops@example.org, found {address!r}"
                )
        return v

    @property
    def smtp_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class AppriseTarget(_Target):
    type: Literal["apprise"]
    url: SecretStr
    """An Apprise URL (``tgram://…``, ``msteams://…``, ``json://…``): a secret."""

    @field_validator("url")
    @classmethod
    def _installed(cls, v: SecretStr) -> SecretStr:
        if importlib.util.find_spec("apprise") is None:
            raise ValueError("Apprise is not installed: pip install 'segsync[apprise]'")
        return v


AlertTarget = Annotated[
    SlackTarget | WebhookTarget | EmailTarget | AppriseTarget, Field(discriminator="type")
]


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: dict[str, AlertTarget] = Field(default_factory=dict)
    """``[alerts.targets.NAME]``: where alerts go."""
    report_url: str | None = None
    """A link to where the HTML report is published, put in every alert."""
