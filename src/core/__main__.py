"""``python -m segsync`` is the ``segsync`` command."""

from segsync.cli import main

main()
