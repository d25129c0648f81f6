"""Settings of the ``table`` connector (``type = "table"`` in segsync.toml).

Each of ``contacts`` and ``events`` (one table or a list of them) names what to read — a
``path`` (Parquet files: a file, a folder or a glob; with ``format = "delta"`` a Delta table's
folder) or a ``table`` of the engine's catalog — and maps its columns exactly as the ``files``
connector maps a file's (:class:`~segsync.connectors.files.settings.ContactMapping`,
:class:`~segsync.connectors.files.settings.EventMapping`)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from segsync.connector import SourceSettings
from segsync.connectors.files.settings import ContactMapping, EventMapping, one_or_many

__all__ = ["TableContacts", "TableEvents", "TableInput", "TableSettings"]


class TableInput(BaseModel):
    """Where one table is: a ``path`` or a ``table`` name, never both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = None
    """Parquet: a file, a folder of files or a glob (``lake/orders/*.parquet``); Delta: the
    table's folder. Relative to the config file's folder; a URL (``s3a://…``, ``gs://…``,
    ``abfss://…``) is handed to the engine as it is."""
    table: str | None = None
    """A table of the engine's catalog (``database.table``; Spark: Hive metastore, Glue,
    Unity Catalog; DuckDB: a table or view of the store's database)."""
    format: Literal["parquet", "delta"] = "parquet"
    """How ``path`` is stored."""

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.path is None) == (self.table is None):
            raise ValueError("set either path (Parquet or Delta files) or table (a catalog table)")
        if self.path is not None and not self.path.strip():
            raise ValueError("path: expected a file, folder or glob")
        if self.table is not None and not all(p.strip() for p in self.table.split(".")):
            raise ValueError(f"table: expected a name such as db.customers, found {self.table!r}")
        return self


class TableContacts(ContactMapping, TableInput):
    """A table of contacts."""


class TableEvents(EventMapping, TableInput):
    """A table of events."""


class TableSettings(SourceSettings):
    contacts: TableContacts | list[TableContacts] | None = None
    events: TableEvents | list[TableEvents] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.contact_sources() and not self.event_sources():
            raise ValueError("expected contacts or events (or both): the tables to read")
        return self

    def contact_sources(self) -> list[TableContacts]:
        return one_or_many(self.contacts)

    def event_sources(self) -> list[TableEvents]:
        return one_or_many(self.events)
