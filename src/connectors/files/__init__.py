"""The ``files`` connector: CSV / JSON Lines in, CSV audiences out."""

from .connector import FilesConnector
from .settings import FilesSettings

__all__ = ["FilesConnector", "FilesSettings"]
