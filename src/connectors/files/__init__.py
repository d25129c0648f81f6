"""The ``files`` connector: CSV / JSON Lines in, CSV audiences out."""

from .connector import FilesConnector
from .destination import FilesDestination
from .settings import FilesSettings
from .source import FilesSource

__all__ = ["FilesConnector", "FilesDestination", "FilesSettings", "FilesSource"]
