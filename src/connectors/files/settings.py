"""Settings of the ``files`` connector (``type = "files"`` in segsync.toml)."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segsync.connector import Purpose, SourceSettings

__all__ = [
    "ContactMapping",
    "ContactsSource",
    "EventMapping",
    "EventsSource",
    "FileSource",
    "FilesSettings",
    "one_or_many",
]


class ContactMapping(BaseModel):
    """Which columns hold a contact's fields (shared by the ``files`` and ``table``
    connectors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    """The column holding the record's unique id."""
    email: str | None = "email"
    phone: str | None = None
    updated_at: str | None = None
    """Column holding when the row last changed: the most recent non-empty attribute wins."""
    consent_updated_at: str | None = None
    """Column holding when the row's consent answers were given; default: ``updated_at``
    (segsync never writes to your files, so the row's time is yours)."""
    country: str | None = None
    """Column holding each contact's country code, used to read national phone numbers."""
    consent: dict[Purpose, str] = Field(default_factory=dict)
    """Consent purpose → column holding yes/no, true/false or 1/0 (empty = unknown)."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Profile attribute → column, where the names differ. Other columns keep their names."""

    def required_columns(self) -> list[str]:
        named = [self.id, self.email, self.phone, self.updated_at, self.country]
        named.append(self.consent_updated_at)
        named += list(self.consent.values())
        return [c for c in [*named, *self.attributes.values()] if c]


class EventMapping(BaseModel):
    """Which columns hold an event's fields (shared by the ``files`` and ``table``
    connectors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    """The column holding the record's unique id."""
    type: str = "order"
    """The event type of every row, unless ``type_column`` is set."""
    type_column: str | None = None
    occurred_at: str = "occurred_at"
    contact_id: str | None = "contact_id"
    """Column holding the contact's id (as in the contacts of this instance)."""
    email: str | None = None
    """Column holding the contact's email, when events name contacts by email."""
    value: str | None = None
    currency: str | None = None
    default_currency: str | None = None

    def required_columns(self) -> list[str]:
        named = [self.id, self.occurred_at, self.type_column, self.contact_id, self.email]
        return [c for c in [*named, self.value, self.currency] if c]


class FileSource(BaseModel):
    """One file (or glob of files) to read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    """A file path or glob, relative to the config file's folder."""
    format: Literal["csv", "jsonl"] | None = None
    """Default: ``jsonl`` for .jsonl/.ndjson files, ``csv`` otherwise."""
    id: str = "id"
    """The column holding the record's unique id."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    """The files' text encoding; with "utf-8", a byte-order mark (Excel's "CSV UTF-8") is fine."""

    def required_columns(self) -> list[str]:
        return [self.id]


class ContactsSource(ContactMapping, FileSource):
    """A contacts file (or glob)."""


class EventsSource(EventMapping, FileSource):
    """An events file (or glob)."""


class FilesSettings(SourceSettings):
    contacts: ContactsSource | list[ContactsSource] | None = None
    events: EventsSource | list[EventsSource] | None = None
    output_dir: str = "audiences"
    """Where audience CSV files are written, relative to the config file's folder."""
    page_size: int = Field(default=5000, ge=1, le=1_000_000)

    @field_validator("output_dir")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("expected a directory path")
        return v

    def contact_sources(self) -> list[ContactsSource]:
        return one_or_many(self.contacts)

    def event_sources(self) -> list[EventsSource]:
        return one_or_many(self.events)


T = TypeVar("T")


def one_or_many(value: T | list[T] | None) -> list[T]:
    """A setting given as one table or a list of them, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
