"""The connector contract: what a connector plugin implements.

A connector is a class with a ``name``, a pydantic ``Settings`` model, declared
``capabilities`` and a few async methods. segsync creates one instance per configured
connector instance (``[connectors.NAME]`` in segsync.toml) and drives it:

* **Source** (``capabilities.contacts`` / ``capabilities.events``): segsync calls
  :meth:`Connector.stream_contacts` and :meth:`Connector.stream_events` with the cursor the
  previous successful pull returned. The connector yields :class:`Page` objects; segsync
  writes each page to a staging file as it arrives (memory stays bounded) and commits the
  page's cursor only once everything has been loaded. A stream that yields nothing leaves the
  stored data and cursor untouched.
* **Destination** (``capabilities.audience_kinds``): segsync calls
  :meth:`Connector.ensure_audience` once per sync, then :meth:`Connector.apply_batch` with
  batches of at most :meth:`Connector.batch_limit` changes (``capabilities.max_batch_size``
  unless the connector says otherwise for a kind). ``apply_batch`` returns exactly
  one :class:`RecordResult` per change; segsync records a change as delivered only when its
  result says ``ok``. A batch may be sent twice (after a crash), so applying it must be
  idempotent: adding a member twice or removing a non-member is not an error.

Members are addressed by ``capabilities.identifier``: ``"email"`` (normalised: trimmed,
lower-case), ``"phone"`` (E.164) or ``"id"`` (the record id this same connector instance
returned as ``Contact.source_id``). Profiles lacking it are skipped and counted as unmatched —
unless the sync says ``on_missing = "create"`` and the connector declares
``creates_members``: then such a profile arrives with ``key = "new:" + email``, the connector
creates (upserts) it on the platform and returns the new record's id as
``RecordResult.delivered_key``, which is what segsync records as delivered.

Raise :class:`segsync.errors.RetryableError` or :class:`segsync.errors.FatalError` for failures
of a whole call; report per-record failures through :class:`RecordResult`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

__all__ = [
    "NEW_MEMBER_PREFIX",
    "AudienceRef",
    "AudienceSpec",
    "Batch",
    "Capabilities",
    "CheckResult",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Contact",
    "Event",
    "Member",
    "Page",
    "Purpose",
    "RecordResult",
]


class Purpose(StrEnum):
    """Consent purposes a profile may grant and a destination may require."""

    EMAIL_MARKETING = "email_marketing"
    AD_USER_DATA = "ad_user_data"
    AD_PERSONALIZATION = "ad_personalization"


Identifier = Literal["email", "phone", "id"]
NEW_MEMBER_PREFIX = "new:"


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do. Declared once, on the class.

    ``audience_kinds`` maps each audience kind the connector can push to (``"list"``,
    ``"tag"``, ``"csv"`` …) to the consent purposes a profile must have granted before it
    may be pushed there.
    """

    contacts: bool = False
    events: bool = False
    audience_kinds: Mapping[str, frozenset[Purpose]] = field(default_factory=dict)
    identifier: Identifier = "email"
    max_batch_size: int = 1000
    creates_members: bool = False
    """Whether ``new:`` members (profiles the platform has no record of) can be created."""

    @property
    def is_source(self) -> bool:
        return self.contacts or self.events

    @property
    def is_destination(self) -> bool:
        return bool(self.audience_kinds)

    def describe(self) -> list[str]:
        """Short human labels, e.g. ``["contacts", "events", "audience:csv"]``."""
        labels = [name for name in ("contacts", "events") if getattr(self, name)]
        labels += [f"audience:{kind}" for kind in self.audience_kinds]
        return labels


class ConnectorSettings(BaseModel):
    """Base of every connector's ``Settings`` model.

    Unknown keys are rejected. Any ``SecretStr`` field ``foo`` may instead be given as
    ``foo_file = "/path"``: the file is read (one trailing newline stripped), so secrets can come
    from mounted files as well as from ``SEGSYNC_`` environment variables.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        secret_fields = {
            name for name, info in cls.model_fields.items() if _is_secret(info.annotation)
        }
        out = dict(data)
        for key, value in data.items():
            if not (key.endswith("_file") and key[: -len("_file")] in secret_fields):
                continue
            target = key[: -len("_file")]
            path = Path(str(value)).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise ValueError(
                    f"{key}: cannot read secret file {str(path)!r}: {reason}"
                ) from None
            out.pop(key)
            out[target] = text[:-1] if text.endswith("\n") else text
        return out


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


@dataclass(frozen=True)
class ConnectorContext:
    """What segsync hands a connector instance besides its settings."""

    instance: str
    """The instance name from segsync.toml (``[connectors.NAME]``)."""
    base_dir: Path
    """Directory relative paths in the settings are resolved against (the config's folder)."""
    work_dir: Path
    """A private directory the instance may use for scratch files."""
    transport: Any = None
    """An ``httpx.AsyncBaseTransport`` to reach the platform through instead of the network:
    tests and ``segsync sandbox`` pass a simulator's transport here. None in production."""


@dataclass
class Contact:
    """One contact record as the source platform holds it.

    ``email`` and ``phone`` may be raw: segsync normalises them, reading a national phone
    number in ``country`` (ISO 3166 alpha-2) when given, else in ``resolve.default_region``.
    ``consent`` maps a purpose to
    True (granted), False (denied) or is absent/None (unknown). ``attributes`` holds raw values
    keyed by profile attribute name; only attributes declared in ``[attributes]`` are kept.
    """

    source_id: str
    email: str | None = None
    phone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    consent: dict[Purpose, bool | None] = field(default_factory=dict)
    updated_at: dt.datetime | None = None
    country: str | None = None


@dataclass
class Event:
    """One behavioural event (an order, a deal won, …) tied to a contact.

    The contact is named by ``contact_id`` (a ``Contact.source_id`` of the same instance) or
    by ``email``. ``occurred_at`` should be timezone-aware; naive values are taken as UTC.
    ``value`` is a Decimal so money is summed exactly.
    """

    event_id: str
    type: str
    occurred_at: dt.datetime
    contact_id: str | None = None
    email: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


RecordT = TypeVar("RecordT", Contact, Event)


@dataclass
class Page(Generic[RecordT]):
    """A page of records from a source stream.

    ``cursor`` is the position to resume from once this page is stored. ``snapshot`` says the
    stream is a complete copy of the source: records of this instance that it does not contain
    are gone. It must be the same on every page of one stream.
    """

    records: list[RecordT]
    cursor: str | None = None
    snapshot: bool = False


@dataclass(frozen=True)
class AudienceSpec:
    """The audience a sync pushes to, as configured."""

    sync: str
    name: str
    kind: str
    description: str = ""


@dataclass(frozen=True)
class AudienceRef:
    """A platform-side audience: its id there and whether this call created it."""

    id: str
    name: str
    kind: str
    created: bool = False


@dataclass(frozen=True)
class Member:
    """A profile as a destination sees it. ``key`` is its address (see ``identifier``); a key
    starting with :data:`NEW_MEMBER_PREFIX` names a profile to create first (``email`` set)."""

    key: str
    profile_key: str | None = None
    email: str | None = None
    phone: str | None = None
    consent: Mapping[Purpose, bool | None] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """Changes for one API call's worth of members."""

    audience: AudienceRef
    adds: list[Member] = field(default_factory=list)
    removes: list[Member] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.adds) + len(self.removes)


@dataclass(frozen=True)
class RecordResult:
    """The outcome of one change. ``permanent`` failures are not retried by later runs.

    ``delivered_key`` is the platform's id for a ``new:`` member the connector created: segsync
    records that id as delivered (and removes it later by that id).
    """

    key: str
    op: Literal["add", "remove"]
    ok: bool
    error: str | None = None
    permanent: bool = False
    delivered_key: str | None = None

    @classmethod
    def success(cls, key: str, op: Literal["add", "remove"]) -> RecordResult:
        return cls(key=key, op=op, ok=True)

    @classmethod
    def failure(
        cls, key: str, op: Literal["add", "remove"], error: str, *, permanent: bool = False
    ) -> RecordResult:
        return cls(key=key, op=op, ok=False, error=error, permanent=permanent)


@dataclass(frozen=True)
class CheckResult:
    """What ``segsync check`` prints for one connector instance."""

    ok: bool
    detail: str


class Connector:
    """Base class of every connector. Subclasses set the class attributes and override the
    methods their capabilities need; the defaults raise ``NotImplementedError``.
    """

    name: ClassVar[str]
    """The connector type, as written in ``type = "..."`` in segsync.toml."""
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    capabilities: ClassVar[Capabilities] = Capabilities()
    description: ClassVar[str] = ""

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.context.instance!r}>"

    def source_streams(self) -> tuple[str, ...]:
        """The streams this *instance* provides: by default those its capabilities declare.

        Override when configuration decides (a files instance used only as a destination
        provides none), so segsync does not pull what is not there.
        """
        caps = self.capabilities
        return tuple(s for s in ("contacts", "events") if getattr(caps, s))

    async def check(self) -> CheckResult:
        """Verify the instance can reach its data (files readable, credentials accepted)."""
        return CheckResult(ok=True, detail="nothing to check")

    def stream_contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        """Yield pages of contacts changed since ``cursor`` (all of them when None)."""
        raise NotImplementedError(f"{self.name} does not provide contacts")

    def stream_events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        """Yield pages of events since ``cursor`` (all of them when None)."""
        raise NotImplementedError(f"{self.name} does not provide events")

    @classmethod
    def create_requires(cls, settings: ConnectorSettings, kind: str) -> frozenset[Purpose]:
        """Consent purposes a profile must have granted before ``on_missing = "create"`` may
        create it on the platform (e.g. Mailchimp adds people as subscribed, so only with
        email-marketing consent). Profiles without them are counted as unmatched, never sent.
        Default: none."""
        return frozenset()

    def batch_limit(self, kind: str) -> int:
        """The most changes one ``apply_batch`` for an audience of ``kind`` may receive: by
        default ``capabilities.max_batch_size``. Override when kinds (or settings) differ, e.g.
        list memberships by the thousand but property writes by the hundred."""
        return self.capabilities.max_batch_size

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        """Find the audience named ``spec.name`` or create it; must be idempotent."""
        raise NotImplementedError(f"{self.name} is not a destination")

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        """Apply adds and removes; return one result per change, in any order."""
        raise NotImplementedError(f"{self.name} is not a destination")

    def http_stats(self) -> Mapping[str, Any] | None:
        """Request counters for the run report (``HttpClient.stats.as_dict()``); None when the
        connector makes no HTTP calls."""
        return None

    async def aclose(self) -> None:
        """Release connections and files. Called once, also after failures."""
