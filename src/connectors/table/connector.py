"""The ``table`` connector: contacts and events from tables segsync's engine reads as they are.

For a data team whose profiles and events already sit in a lake: Parquet files or a Delta
table (on the machine, or at any URL the engine reads) or a table of the engine's catalog
(Spark: the Hive metastore, Glue, Unity Catalog). Nothing passes through segsync's Python but
the rows SQL cannot take: the engine reads each table and the same SQL as the ``files``
connector's types, checks and normalises every field (see docs/scaling.md). A source only:
it has no destination role.
"""

from __future__ import annotations

from segsync.connector import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
)

from .settings import TableSettings
from .source import TableSource

__all__ = ["TableConnector"]


class TableConnector(Connector):
    """Contacts and events read from Parquet / Delta tables or catalog tables."""

    name = "table"
    description = "tables read by the engine (Parquet, Delta, catalog tables): contacts and events"
    Settings = TableSettings
    capabilities = Capabilities(contacts=True, events=True)
    settings: TableSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.source: TableSource = TableSource(self.settings, context)

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, detail="; ".join(self.source.findable()))
