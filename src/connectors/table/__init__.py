"""The ``table`` connector: contacts and events read straight from tables (Parquet, Delta, a
catalog's tables) by segsync's engine."""

from .connector import TableConnector
from .settings import TableContacts, TableEvents, TableSettings
from .source import TableSource

__all__ = ["TableConnector", "TableContacts", "TableEvents", "TableSettings", "TableSource"]
