"""The connector contract: what a connector plugin implements.

A connector is a class with a ``name``, a pydantic ``Settings`` model and declared
``capabilities``, playing up to two roles: a :class:`Source` (``capabilities.contacts`` /
``capabilities.events``) and a :class:`Destination` (``capabilities.audience_kinds``). segsync
creates one instance per configured connector instance (``[connectors.NAME]`` in segsync.toml)
and drives its roles:

* **Source** — segsync calls ``source.contacts(cursor)`` and ``source.events(cursor)`` for the
  streams ``source.streams()`` names, with the cursor the previous successful pull returned.
  See :class:`Source`. A source whose data sits in files may also hand the files over
  (:class:`BulkSource`): segsync's engine reads them, much faster than pages.
* **Destination** — segsync calls ``destination.ensure_audience(spec)`` once per sync, then
  ``destination.apply_batch(batch)`` with batches of at most ``destination.batch_limit(kind)``
  changes, up to ``destination.max_in_flight`` at once. See :class:`Destination`.

* **Eraser** (optional, opt-in per instance) — for a right-to-erasure request
  (``segsync forget``), segsync removes the person from every audience the ledger says they
  were delivered to through the destination role, then, where the instance's settings ask for
  it (``erase_records``), calls ``eraser.erase(people)`` to delete or anonymise the person's
  records on the platform itself. See :class:`Eraser`.

Members are addressed by ``capabilities.identifier``: ``"email"`` (normalised: trimmed,
lower-case), ``"phone"`` (E.164) or ``"id"`` (the record id this same connector instance
returned as ``Contact.source_id``). Profiles lacking it are skipped and counted as unmatched —
unless the sync says ``on_missing = "create"`` and the connector declares
``creates_members``: then such a profile arrives with ``key = "new:" + email``, the connector
creates (upserts) it on the platform and returns the new record's id as
``RecordResult.delivered_key``, which is what segsync records as delivered.

Raise :class:`segsync.errors.RetryableError` or :class:`segsync.errors.FatalError` for failures
of a whole call; report per-record failures through :class:`RecordResult`. HTTP connectors
build their client with :func:`segsync.http.connect`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import (
    Any,
    ClassVar,
    Generic,
    Literal,
    NamedTuple,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from segsync.model.identity import phone_region

__all__ = [
    "NEW_MEMBER_PREFIX",
    "AudienceRef",
    "AudienceSpec",
    "AudienceStats",
    "Batch",
    "BulkFile",
    "BulkRead",
    "BulkSource",
    "Capabilities",
    "CheckResult",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Contact",
    "ContactBatch",
    "ContactColumns",
    "Destination",
    "Eraser",
    "ErasureResult",
    "Event",
    "EventColumns",
    "Member",
    "Page",
    "Person",
    "Purpose",
    "RecordResult",
    "Reject",
    "Source",
    "SourceSettings",
    "TableRef",
    "default_refresh_days",
]


class Purpose(StrEnum):
    """Consent purposes a profile may grant and a destination may require — and one
    objection: ``do_not_profile`` answered True means the person objects to profiling (GDPR
    art. 21); segsync then keeps them out of traits, segments and every destination. No
    destination can require it."""

    EMAIL_MARKETING = "email_marketing"
    AD_USER_DATA = "ad_user_data"
    AD_PERSONALIZATION = "ad_personalization"
    DO_NOT_PROFILE = "do_not_profile"


Identifier = Literal["email", "phone", "id"]
EraseMode = Literal["delete", "anonymise"]
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
    erases: frozenset[EraseMode] = frozenset()
    """How the connector can erase a person's records on the platform (:class:`Eraser`):
    ``"delete"`` and/or ``"anonymise"``; empty when it cannot (segsync then only removes the
    person from audiences there)."""

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
    ``foo_file = "/path"``: the file is read (a trailing line break stripped), so secrets can
    come from mounted files as well as from ``SEGSYNC_`` environment variables. A secret holding
    a control character (other than that trailing line break) is refused.
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
            if target in data:
                raise ValueError(f"{key}: expected either {target} or {key}, not both")
            path = Path(str(value)).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise ValueError(
                    f"{key}: cannot read secret file {str(path)!r}: {reason}"
                ) from None
            out.pop(key)
            text = text.removesuffix("\n").removesuffix("\r")
            bad = control_character(text)
            if bad:
                raise ValueError(
                    f"{key}: the secret in {str(path)!r} contains a control character ({bad}); "
                    "expected one line of printable text"
                )
            out[target] = text
        return out


REFRESH_MARGIN_DAYS = 30
"""How long before memberships run out segsync re-adds them by default."""


def default_refresh_days(membership_days: int) -> int:
    """The default ``refresh_days`` of a sync whose memberships last ``membership_days``:
    :data:`REFRESH_MARGIN_DAYS` before they run out, or a quarter of their lifetime before
    when that is shorter (540 → 510; 60 → 45; 2 → 1), so a run missed now and then does not
    let a member expire."""
    margin = min(REFRESH_MARGIN_DAYS, max(1, membership_days // 4))
    return max(1, membership_days - margin)


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+000D``, or None."""
    for ch in text:
        if ord(ch) < 32 or ord(ch) == 127:
            return f"U+{ord(ch):04X}"
    return None


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


class SourceSettings(ConnectorSettings):
    """Base of the ``Settings`` of a connector that can be a source: what segsync does with
    the records it pulls, the same for every source (see the user guide, "Safety").

    A source connector's ``Settings`` subclasses this instead of :class:`ConnectorSettings`.
    """

    phone_region: str | None = None
    """ISO country code to read this source's national phone numbers in (``"FR"``) when a
    record gives no country of its own; default: ``[resolve] default_region``."""
    on_bad_row: Literal["fail", "skip"] = "fail"
    """A record that cannot be read: ``fail`` the source (nothing from it is loaded), or
    ``skip`` it, writing it to the rejects file beside the store with the reason."""
    max_bad_rows: int = Field(default=100, ge=0)
    """With ``on_bad_row = "skip"``: past this many rejects in one pull the source fails."""
    max_shrink_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """A full snapshot holding fewer than ``1 − max_shrink_fraction`` of the records stored
    for this source (and 100 or more fewer) is refused: a header-only or truncated export;
    ``--force`` loads it."""
    max_orphan_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """A pull whose events mostly name no known contact is refused (a contacts export from
    another system?); checked from 100 events up; ``--force`` loads it."""

    @field_validator("phone_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        return phone_region(v) if v is not None else None


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
    number in ``country`` (ISO 3166 alpha-2) when given, else in the source's ``phone_region``,
    else in ``resolve.default_region``. ``attributes`` holds raw values keyed by profile
    attribute name; only attributes declared in ``[attributes]`` are kept.

    ``consent`` maps a purpose to True (granted), False (denied) or is absent/None (unknown).
    ``consent_at`` dates each answer: **when that answer was given** on the platform (a
    property's history, an opt-in time), never when the record last changed — segsync's own
    writes change a record but not its consent. When profiles disagree, the most recent answer
    wins. An answer without a time loses to any dated one; and an answer that did not change
    since the last pull keeps the time segsync first saw it with. ``Purpose.DO_NOT_PROFILE``
    True records an objection to profiling (False: withdrawn); at equal times an objection
    wins, as a denial does for the other purposes.

    ``updated_at`` is when the record last changed: the most recent non-empty attribute value
    wins a merge. A record whose identifiers, attributes and consent did not change since the
    last pull keeps its stored ``updated_at``, so a write that changes nothing segsync reads
    (such as segsync's own) does not make it "newer". Times later than the pull are taken as
    the pull's time, with a warning.
    """

    source_id: str
    email: str | None = None
    phone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    consent: dict[Purpose, bool | None] = field(default_factory=dict)
    updated_at: dt.datetime | None = None
    country: str | None = None
    consent_at: dict[Purpose, dt.datetime] = field(default_factory=dict)


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


@dataclass(frozen=True)
class Reject:
    """A record a source skipped (``on_bad_row = "skip"``): where it is (``file:line`` or a
    record id) and why it could not be read."""

    location: str
    reason: str


@dataclass
class ContactBatch(Sequence[Contact]):
    """A page of contacts as columns: the same fields as :class:`Contact`, one list each, all
    of one length (row ``i`` of every list is one contact).

    A source may yield ``Page(ContactBatch(...))`` instead of ``Page([Contact, ...])``: segsync
    then stages the page column by column, without a :class:`Contact` object per record — the
    faster way for a connector that reads many contacts (the HubSpot connector does). It is a
    sequence of :class:`Contact` (built on access), so whatever reads a page's records one by
    one reads it unchanged. ``attributes`` maps an attribute to its column; ``consent`` a
    purpose to its answers (None: no answer), ``consent_at`` a purpose to when each answer was
    given (None: not dated). Columns left out are all None."""

    source_id: list[str]
    email: list[str | None] | None = None
    phone: list[str | None] | None = None
    country: list[str | None] | None = None
    updated_at: list[dt.datetime | None] | None = None
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    consent: dict[Purpose, list[bool | None]] = field(default_factory=dict)
    consent_at: dict[Purpose, list[dt.datetime | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = len(self.source_id)
        named = {"email": self.email, "phone": self.phone, "country": self.country,
                 "updated_at": self.updated_at}  # fmt: skip
        columns = [
            *named.items(),
            *((f"attributes[{k!r}]", v) for k, v in self.attributes.items()),
            *((f"consent[{str(k)!r}]", v) for k, v in self.consent.items()),
            *((f"consent_at[{str(k)!r}]", v) for k, v in self.consent_at.items()),
        ]
        for name, column in columns:
            if column is not None and len(column) != size:
                raise ValueError(
                    f"ContactBatch: {name} holds {len(column)} values for {size} contacts"
                )

    def __len__(self) -> int:
        return len(self.source_id)

    @overload
    def __getitem__(self, index: int) -> Contact: ...
    @overload
    def __getitem__(self, index: slice) -> list[Contact]: ...
    def __getitem__(self, index: int | slice) -> Contact | list[Contact]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self))[index]
        consent: dict[Purpose, bool | None] = {
            p: col[i] for p, col in self.consent.items() if col[i] is not None
        }
        dated = {p: at for p, col in self.consent_at.items() if (at := col[i]) is not None}
        return Contact(
            source_id=self.source_id[i],
            email=None if self.email is None else self.email[i],
            phone=None if self.phone is None else self.phone[i],
            attributes={name: col[i] for name, col in self.attributes.items()},
            consent=consent,
            updated_at=None if self.updated_at is None else self.updated_at[i],
            country=None if self.country is None else self.country[i],
            consent_at=dated,
        )


@dataclass
class Page(Generic[RecordT]):
    """A page of records from a source stream.

    ``cursor`` is the position to resume from once this page is stored. ``snapshot`` says the
    stream is a complete copy of the source: records of this instance that it does not contain
    are gone. It must be the same on every page of one stream. ``rejects`` are the records of
    this page the connector skipped (only when its settings say ``on_bad_row = "skip"``).
    A contacts page's ``records`` may be a :class:`ContactBatch` (the page as columns).
    ``total`` is how many records the whole pull will bring, when the platform says (Mailchimp's
    ``total_items``): progress bars show it; it changes nothing else.
    """

    records: Sequence[RecordT]
    cursor: str | None = None
    snapshot: bool = False
    rejects: list[Reject] = field(default_factory=list)
    total: int | None = None


@dataclass(frozen=True)
class ContactColumns:
    """Which columns of a file hold a :class:`Contact`'s fields (see :class:`BulkFile`).

    Every other column is an attribute of its own name, and ``attributes`` maps an attribute
    to the column holding it where the names differ (segsync keeps the declared ones).
    ``consent_updated_at`` dates the row's consent answers (default: ``updated_at``)."""

    id: str
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    updated_at: str | None = None
    consent_updated_at: str | None = None
    consent: Mapping[Purpose, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)

    def mapped(self) -> frozenset[str]:
        """The columns that hold a field rather than an attribute (unless renamed to one)."""
        named = [self.id, self.email, self.phone, self.updated_at, self.consent_updated_at]
        return frozenset(c for c in [*named, *self.consent.values()] if c)


@dataclass(frozen=True)
class EventColumns:
    """Which columns of a file hold an :class:`Event`'s fields (see :class:`BulkFile`).

    Every event is of ``type`` unless ``type_column`` names one; ``currency`` defaults to
    ``default_currency``; every other column is a property."""

    id: str
    occurred_at: str
    type: str = "order"
    type_column: str | None = None
    contact_id: str | None = None
    email: str | None = None
    value: str | None = None
    currency: str | None = None
    default_currency: str | None = None

    def used(self) -> frozenset[str]:
        """The columns that hold a field rather than a property."""
        named = [self.id, self.occurred_at, self.type_column, self.contact_id, self.email]
        return frozenset(c for c in [*named, self.value, self.currency] if c)


RowNumbers = Collection[int]


@dataclass(frozen=True)
class TableRef:
    """A table for the engine to read as it stands (a :class:`BulkFile` of format ``table``):
    ``kind`` ``parquet`` (``location``: a Parquet file, a folder of them or a glob), ``delta``
    (``location``: a Delta table's folder) or ``table`` (``location``: a table's name in the
    engine's catalog, ``database.table``). Paths may be any URL the engine reads
    (``s3a://…`` on Spark, ``s3://…`` with DuckDB's httpfs)."""

    kind: Literal["parquet", "delta", "table"]
    location: str

    def __str__(self) -> str:
        return self.location


@dataclass(frozen=True)
class BulkFile:
    """One file a source hands segsync to read with its engine, instead of pages of records.

    segsync reads every row as the fields ``columns`` name, by the rules of
    :mod:`segsync.values`: ids as text (empty: the row is bad), consent with ``parse_bool``,
    times with ``parse_datetime`` (an event's is required), amounts with ``parse_amount``,
    attributes coerced to their declared types. A row it cannot take so is read by the source
    itself, as its pages would read it: ``rows(numbers)`` yields ``(line, row)`` for those
    rows (a dict of column → value, or the :class:`~segsync.errors.InputError` saying why it
    cannot be read), and ``record(line, row)`` makes the record of a row or raises the
    ``InputError`` naming ``file:line`` — which segsync reports, or with
    ``on_bad_row = "skip"`` writes to the rejects file. A row's number is its place in the
    file as the engine counts: a CSV record's after the header (blank lines not counted), a
    JSON Lines row's line number.

    ``header`` is a CSV file's column names, in order, already checked (unique, the mapped
    ones present). A file the engine cannot read at all (a malformed CSV record, a record
    with a field too many, bytes that are not UTF-8) sends the whole stream through the
    source's pages instead.

    Format ``table``: ``table`` names what the engine reads (Parquet, Delta, a catalog
    table; ``path`` is then only its name in messages) and ``rows`` is None — segsync reads
    the rows SQL cannot take from the engine, as ``{column: value}`` of the mapped columns
    (and, for events, the others), numbered in the order the engine reads the table."""

    path: Path
    format: Literal["csv", "jsonl", "table"]
    columns: ContactColumns | EventColumns
    rows: Callable[[RowNumbers], Iterator[tuple[int, dict[str, Any] | Exception]]] | None
    record: Callable[[int, dict[str, Any]], Contact | Event]
    header: tuple[str, ...] = ()
    delimiter: str = ","
    table: TableRef | None = None

    @property
    def where(self) -> str:
        """What messages call it: the file's path, or the table's location."""
        return str(self.table) if self.table is not None else str(self.path)


@dataclass(frozen=True)
class BulkRead:
    """A stream handed over as files (:meth:`BulkSource.bulk_read`): ``files`` in order (a
    record repeated later wins), the ``cursor`` to store once they are loaded, and whether
    they are a ``snapshot`` (records of the instance they do not hold are gone). No files:
    nothing changed since the cursor."""

    files: tuple[BulkFile, ...]
    cursor: str | None = None
    snapshot: bool = True


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


class Member(NamedTuple):
    """A profile as a destination sees it. ``key`` is its address (see ``identifier``); a key
    starting with :data:`NEW_MEMBER_PREFIX` names a profile to create first (``email`` set).

    Immutable (a named tuple: a push makes one per change, and a frozen dataclass cost
    several microseconds each)."""

    key: str
    profile_key: str | None = None
    email: str | None = None
    phone: str | None = None
    consent: Mapping[Purpose, bool | None] = MappingProxyType({})
    attributes: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class AudienceStats:
    """What the platform says of an audience after a push (:meth:`Destination.audience_stats`,
    optional): ``size`` — the people it holds as the platform counts them (Customer Match:
    the matched Google users, an estimate); ``match_rate`` — the share (0..1) of the members
    sent that the platform matched to its own users; ``min_size`` — below this size the
    platform does not serve the audience (Customer Match: 100). Each None when unknown."""

    size: int | None = None
    match_rate: float | None = None
    min_size: int | None = None

    @property
    def too_small(self) -> bool:
        """Whether the platform holds too few people to serve the audience."""
        return self.size is not None and self.min_size is not None and self.size < self.min_size


@dataclass(frozen=True)
class Batch:
    """Changes for one API call's worth of members."""

    audience: AudienceRef
    adds: list[Member] = field(default_factory=list)
    removes: list[Member] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.adds) + len(self.removes)


class RecordResult(NamedTuple):
    """The outcome of one change. ``permanent`` failures are not retried by later runs.

    ``delivered_key`` is the platform's id for a ``new:`` member the connector created: segsync
    records that id as delivered (and removes it later by that id). Immutable (a named tuple:
    a destination returns one per change).
    """

    key: str
    op: Literal["add", "remove"]
    ok: bool
    error: str | None = None
    permanent: bool = False
    delivered_key: str | None = None

    @classmethod
    def success(cls, key: str, op: Literal["add", "remove"]) -> RecordResult:
        return cls(key, op, True)

    @classmethod
    def failure(
        cls, key: str, op: Literal["add", "remove"], error: str, *, permanent: bool = False
    ) -> RecordResult:
        return cls(key, op, False, error, permanent)


@dataclass(frozen=True)
class Person:
    """Someone to erase at one connector instance, by every way that instance knows them.

    ``key`` is the erasure's own reference for the person (opaque, no personal data): results
    name it. ``record_ids`` are the ids this instance returned as ``Contact.source_id`` or as
    ``RecordResult.delivered_key``; ``emails`` (normalised) and ``phones`` (E.164) are what
    segsync held, for platforms that address people by them."""

    key: str
    record_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class ErasureResult:
    """The outcome of erasing one :class:`Person` at one platform.

    ``outcome``: ``"deleted"`` / ``"anonymised"`` (done), ``"not_found"`` (the platform holds no
    record of them: done as well), or ``"failed"`` — retried by later ``forget`` and ``run``
    invocations unless ``permanent``. ``error`` says why, without personal data."""

    key: str
    outcome: Literal["deleted", "anonymised", "not_found", "failed"]
    error: str | None = None
    permanent: bool = False

    @property
    def done(self) -> bool:
        return self.outcome != "failed"


@dataclass(frozen=True)
class CheckResult:
    """What ``segsync check`` prints for one connector instance."""

    ok: bool
    detail: str


@runtime_checkable
class Source(Protocol):
    """The source role: what segsync reads from a platform.

    segsync calls :meth:`contacts` and :meth:`events` with the cursor the previous successful
    pull returned (None the first time, and with ``--full``). They yield :class:`Page` objects;
    segsync stages each page as it arrives (memory stays bounded by a page) and commits the
    last cursor only once everything of the source has been loaded. A stream that yields
    nothing leaves the stored data and cursor untouched.
    """

    def streams(self) -> tuple[str, ...]:
        """The streams this instance provides (``"contacts"``, ``"events"``), as its
        configuration decides: segsync pulls only these."""
        ...

    def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        """Pages of contacts changed since ``cursor`` (all of them when None)."""
        ...

    def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        """Pages of events since ``cursor`` (all of them when None)."""
        ...


@runtime_checkable
class BulkSource(Protocol):
    """A source that can also hand a stream over as files its engine reads (fast: no record
    passes through Python one by one); segsync asks before it pages.

    ``bulk_read(stream, cursor)`` returns a :class:`BulkRead`, or None to be read page by page
    (a stream it cannot describe as files, an encoding the engine does not read, or a
    subclass that changed how its pages are made)."""

    def bulk_read(self, stream: str, cursor: str | None) -> BulkRead | None:
        """The files of ``stream`` changed since ``cursor``, or None for pages."""
        ...


@runtime_checkable
class Destination(Protocol):
    """The destination role: what segsync writes to a platform.

    segsync calls :meth:`ensure_audience` once per sync per run, then :meth:`apply_batch`
    with batches of at most :meth:`batch_limit` changes, each one API call's worth, keeping up
    to :attr:`max_in_flight` of them in flight at once. ``apply_batch`` returns one
    :class:`RecordResult` per change; a change is recorded as delivered only when its result
    says ``ok``. A batch may be sent twice (after a crash), so applying it must be idempotent.
    Raise :class:`~segsync.errors.FatalError` when the platform rejects a batch as a whole:
    segsync splits it to isolate the bad records (connectors never split or retry on their
    own); :class:`~segsync.errors.AuthError` and :class:`~segsync.errors.QuotaError` stop the
    sync, its changes kept pending.
    """

    max_in_flight: int
    """How many batches may be in flight at once (the platform's connection cap, or 1)."""

    def batch_limit(self, kind: str) -> int:
        """The most changes one :meth:`apply_batch` for an audience of ``kind`` may hold:
        what one API call of the platform takes."""
        ...

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        """Find the audience named ``spec.name`` or create it; must be idempotent."""
        ...

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        """Apply one batch (adds or removes); one result per change, in any order."""
        ...

    # Optional, not part of the protocol's required members (a destination without it is
    # fine): ``async def audience_stats(self, audience: AudienceRef) -> AudienceStats | None``
    # — what the platform reports of the audience once a push is done (its size, match rate
    # and the size it needs to serve it). segsync calls it once per sync after pushing, puts
    # the figures in the run report and warns when the audience is too small to be served.
    # Errors it raises are logged as warnings and change nothing else.


@runtime_checkable
class Eraser(Protocol):
    """The eraser role: deleting (or anonymising) people's records on the platform itself, for
    a right-to-erasure request. Optional, and opt-in per instance: a connector that declares
    ``capabilities.erases`` reads the mode from its settings (``erase_records = "delete"`` /
    ``"anonymise"`` / ``"off"``, default off) and sets :attr:`Connector.eraser` only when
    it is on.

    segsync calls :meth:`erase` with at most :attr:`erase_limit` people (one API call's
    worth where the platform deletes in bulk, else 1), keeping up to :attr:`max_in_flight`
    calls in flight, after it removed them from the audiences it delivered them to. Erasing
    must be idempotent (a person already gone is ``not_found``, not a failure).
    :class:`~segsync.errors.RetryableError` leaves the call's people pending (retried later);
    :class:`~segsync.errors.FatalError` fails them permanently unless the call held several
    (then segsync tries them one by one); :class:`~segsync.errors.AuthError` and
    :class:`~segsync.errors.QuotaError` stop erasing at this instance, everyone pending."""

    max_in_flight: int
    erase_limit: int
    mode: EraseMode

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        """Erase these people's records; one result per person (by ``key``), in any order."""
        ...


class Connector:
    """Base class of every connector: a type with a name, settings and declared capabilities,
    playing the roles its capabilities say.

    A connector whose ``capabilities`` declare contacts or events sets :attr:`source` in its
    ``__init__``; one with audience kinds sets :attr:`destination`. segsync refuses (as a
    plugin error) a connector that declares a role and does not play it.
    """

    name: ClassVar[str]
    """The connector type, as written in ``type = "..."`` in segsync.toml."""
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    capabilities: ClassVar[Capabilities] = Capabilities()
    description: ClassVar[str] = ""

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context
        self.source: Source | None = None
        """The source role, when the connector has one."""
        self.destination: Destination | None = None
        """The destination role, when the connector has one."""
        self.eraser: Eraser | None = None
        """The eraser role, when the connector declares ``capabilities.erases`` and the
        instance's settings turn it on."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.context.instance!r}>"

    async def check(self) -> CheckResult:
        """Verify the instance can reach its data (files readable, credentials accepted)."""
        return CheckResult(ok=True, detail="nothing to check")

    @classmethod
    def create_requires(cls, settings: ConnectorSettings, kind: str) -> frozenset[Purpose]:
        """Consent purposes a profile must have granted before ``on_missing = "create"`` may
        create it on the platform (e.g. Mailchimp adds people as subscribed, so only with
        email-marketing consent). Profiles without them are counted as unmatched, never sent.
        Default: none."""
        return frozenset()

    @classmethod
    def membership_days(cls, settings: ConnectorSettings, kind: str) -> int | None:
        """How many days a membership delivered to an audience of ``kind`` lasts at the
        platform, from its last delivery, before the platform drops it (Google Customer
        Match: the list's membership duration, at most 540 days). None (the default): it
        never expires.

        When it expires, segsync re-adds confirmed members whose last delivery is older than
        the sync's ``refresh_days`` (default: :func:`default_refresh_days` of this), so an
        audience never shrinks silently; ``refresh_days`` is refused unless it is below this.
        Re-adding must be harmless (it is a normal add: :meth:`Destination.apply_batch`)."""
        return None

    def http_stats(self) -> Mapping[str, Any] | None:
        """Request counters for the run report (``HttpClient.stats.as_dict()``); None when the
        connector makes no HTTP calls."""
        return None

    async def aclose(self) -> None:
        """Release connections and files. Called once, also after failures."""
