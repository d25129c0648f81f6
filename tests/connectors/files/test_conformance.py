"""The files connector runs the connector conformance suite.

It has no HTTP platform, so it provides its own :class:`Platform` (a folder) and the HTTP-only
tests (429, 5xx, 401) are skipped with that reason.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from segsync.connector import AudienceRef
from segsync.connectors.files import FilesConnector
from segsync.testing.conformance import ConnectorConformance, Platform, SeedContact


class TestFilesConformance(ConnectorConformance):
    connector = FilesConnector

    def make_platform(self, tmp_path: Path) -> Platform:
        def settings(credential: str) -> dict[str, Any]:
            return {"contacts": {"path": "contacts.csv"}, "output_dir": "out", "page_size": 50}

        def seed(contacts: list[SeedContact]) -> None:
            with (tmp_path / "contacts.csv").open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(["id", "email", "first_name"])
                writer.writerows([c.id, c.email, c.first_name] for c in contacts)

        def members(audience: AudienceRef) -> set[str]:
            with (tmp_path / "out" / audience.id).open(encoding="utf-8", newline="") as fh:
                return {row["email"] for row in csv.DictReader(fh)}

        return Platform(
            settings=settings,
            credential="",
            members=members,
            seed=seed,
            reject_key="line\nbreak@example.org",
        )
