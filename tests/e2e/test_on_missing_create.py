"""on_missing = "create": profiles the platform has no record of are created there first, the
platform's id is recorded, and once pulled back the next run changes nothing."""

from __future__ import annotations

import json

import pytest

from projectkit import Project

pytestmark = pytest.mark.e2e

REGISTRY_PLUGIN = '''
import json
from pathlib import Path

from pydantic import BaseModel

from segsync import hookimpl
from segsync.connector import (
    NEW_MEMBER_PREFIX, AudienceRef, Capabilities, Connector, ConnectorSettings, Contact, Page,
    RecordResult,
)


class RegistrySettings(ConnectorSettings):
    path: str = "registry.json"


class Registry(Connector):
    """A platform in a JSON file: records with ids, and audiences of record ids."""

    name = "registry"
    Settings = RegistrySettings
    capabilities = Capabilities(
        contacts=True, audience_kinds={"list": frozenset()}, identifier="id", creates_members=True
    )

    max_in_flight = 1

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.source = self  # a small connector may play both roles itself
        self.destination = self

    def streams(self):
        return ("contacts",)

    def batch_limit(self, kind):
        return 1000

    def _load(self):
        path = self.context.base_dir / self.settings.path
        return json.loads(path.read_text()) if path.exists() else {"records": {}, "lists": {}}

    def _save(self, data):
        (self.context.base_dir / self.settings.path).write_text(json.dumps(data))

    async def contacts(self, cursor):
        records = self._load()["records"]
        yield Page([Contact(source_id=i, email=e) for i, e in records.items()], snapshot=True)

    async def ensure_audience(self, spec):
        data = self._load()
        data["lists"].setdefault(spec.name, [])
        self._save(data)
        return AudienceRef(id=spec.name, name=spec.name, kind=spec.kind)

    async def apply_batch(self, batch):
        data = self._load()
        members = set(data["lists"][batch.audience.id])
        results = []
        for m in batch.adds:
            key, created = m.key, None
            if key.startswith(NEW_MEMBER_PREFIX):
                by_email = {e: i for i, e in data["records"].items()}
                created = by_email.get(m.email) or f"R{len(data['records']) + 1}"
                data["records"][created] = m.email
                key = created
            members.add(key)
            results.append(RecordResult(key=m.key, op="add", ok=True, delivered_key=created))
        for m in batch.removes:
            members.discard(m.key)
            results.append(RecordResult.success(m.key, "remove"))
        data["lists"][batch.audience.id] = sorted(members)
        self._save(data)
        return results


@hookimpl
def register_connectors(register):
    register(Registry)
'''


def test_missing_profiles_are_created_then_recognised(project: Project) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "registry.py").write_text(REGISTRY_PLUGIN)
    (project.root / "registry.json").write_text(
        json.dumps({"records": {"R1": "alice@example.org"}, "lists": {}})
    )
    project.extra_config = (
        '\n[connectors.crm]\ntype = "registry"\n'
        '\n[syncs.buyers_crm]\nsegment = "buyers"\ndestination = "crm"\non_missing = "create"\n'
    )
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    sync = next(s for s in report["syncs"] if s["name"] == "buyers_crm")
    assert (sync["adds"], sync["created"], sync["skipped"]["unmatched"]) == (2, 1, 0)
    data = json.loads((project.root / "registry.json").read_text())
    assert data["records"] == {"R1": "alice@example.org", "R2": "person2@example.org"}
    assert data["lists"]["buyers_crm"] == ["R1", "R2"]

    # not pulled back yet: the created member is wanted under its new: key, never removed
    code, plan = project.json("plan", "--no-pull")
    sync = next(s for s in plan["syncs"] if s["name"] == "buyers_crm")
    assert sync["removes"] == 0

    # pulled back: recognised by its id, nothing to do
    code, again = project.json("run")
    sync = next(s for s in again["syncs"] if s["name"] == "buyers_crm")
    assert (sync["adds"], sync["removes"]) == (0, 0)
    assert json.loads((project.root / "registry.json").read_text())["lists"]["buyers_crm"] == [
        "R1",
        "R2",
    ]


def test_on_missing_create_needs_a_connector_that_can(project: Project) -> None:
    project.extra_config = (
        '\n[syncs.create]\nsegment = "buyers"\ndestination = "out"\non_missing = "create"\n'
    )
    project.write()
    result = project.cli("check")
    assert result.code == 2
    assert "syncs.create.on_missing: 'files' cannot create members" in result.err
