"""``segsync export-person``: everything the store holds about a person, as JSON — the right of
access (GDPR art. 15).

The person is found exactly as ``segsync forget`` would find them (:mod:`.erasure`): the
records holding the identifier, the records holding any of their emails, phones or record
ids, the profiles and events of those, and what the ledger says was delivered where. Nothing
is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from decimal import Decimal
from typing import Any

from segsync.config import Config
from segsync.engine import Engine, parse
from segsync.errors import ConfigError
from segsync.state.lock import run_lock
from segsync.state.store import Store

from .erasure import Erasures, Request
from .identifiers import digest, parse_identifiers, store_salt

__all__ = ["export_person"]


def export_person(config: Config, text: str) -> dict[str, Any]:
    """What the store holds about the person ``text`` names (see the module docstring)."""
    from segsync.pipeline import new_run_id

    region = config.settings.resolve.default_region
    (identifier,) = parse_identifiers([text], instances=list(config.connectors), region=region)
    path = config.store_path
    if config.no_store_yet:
        raise ConfigError(f"{path}: no store yet, so segsync holds nothing about anyone")
    wait = config.settings.store.lock_wait_seconds
    with (
        run_lock(path, command="export-person", run_id=new_run_id(), wait=wait),
        Store.of(config) as store,
    ):
        engine = store.engine
        stored_salt = store_salt(engine, create=False)
        salt = stored_salt or secrets.token_hex(32)
        request = Request("access", identifier.kind, identifier.digest(salt), identifier.value)
        erasures = Erasures(engine)
        resolution = erasures.resolve([request], salt)
        try:
            found = resolution.found[request.request_id]
            out: dict[str, Any] = {
                "identifier": {"kind": identifier.kind, "value": identifier.value},
                "exported_at": dt.datetime.now(dt.UTC),
                "found": found.anything,
                "profiles": _profiles(engine),
                "source_records": _rows(
                    engine,
                    "SELECT * FROM source_contacts WHERE instance || ':' || source_id IN "
                    "(SELECT instance || ':' || source_id FROM _er2) ORDER BY instance, source_id",
                ),
                "events": _rows(
                    engine,
                    "SELECT * FROM events WHERE instance || ':' || event_id IN "
                    "(SELECT key FROM _ere) ORDER BY occurred_at, instance, event_id",
                ),
                "segments": _rows(
                    engine,
                    "SELECT segment, profile_key FROM segment_members WHERE profile_key IN "
                    "(SELECT profile_key FROM _erp) ORDER BY segment, profile_key",
                ),
                "deliveries": _rows(
                    engine,
                    """SELECT d.sync, d.destination, d.kind, d.name AS audience, d.audience_id,
                        d.member_key, s.delivered_at
                    FROM _erd d LEFT JOIN sync_state s
                        ON s.sync = d.sync AND s.member_key = d.member_key
                    ORDER BY d.sync, d.member_key""",
                ),
                "failures": _rows(
                    engine,
                    "SELECT * FROM failures WHERE profile_key IN (SELECT profile_key FROM _erp) "
                    "OR sync || ':' || member_key IN (SELECT sync || ':' || member_key FROM _erk) "
                    "ORDER BY sync, op, member_key",
                ),
                "change_log": _rows(
                    engine,
                    "SELECT * FROM change_log WHERE profile_key IN "
                    "(SELECT profile_key FROM _erp) OR sync || ':' || member_key IN "
                    "(SELECT sync || ':' || member_key FROM _erk) ORDER BY logged_at, sync",
                ),
                "suppressed": _suppressed(engine, stored_salt, identifier.kind, identifier.value),
            }
        finally:
            erasures.close()
    plain: dict[str, Any] = json.loads(json.dumps(out, default=_plain))
    return plain


def _profiles(engine: Engine) -> list[dict[str, Any]]:
    # the trait columns are named: ``t.* EXCLUDE (...)`` is DuckDB's and Postgres has no such thing
    columns = engine.columns("profile_traits")
    query = "SELECT p.* FROM profiles p"
    if "profile_key" in columns:
        picked = "".join(f', t."{c}"' for c in columns if c != "profile_key")
        query = (
            f"SELECT p.*{picked} FROM profiles p "
            "LEFT JOIN profile_traits t ON t.profile_key = p.profile_key"
        )
    return _rows(
        engine,
        f"{query} WHERE p.profile_key IN (SELECT profile_key FROM _erp) ORDER BY p.profile_key",
    )


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    rows = engine.dicts(parse(sql))
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str) and value[:1] in "{[":
                with contextlib.suppress(ValueError):
                    row[key] = json.loads(value)
    return rows


def _suppressed(engine: Engine, salt: str | None, kind: str, value: str) -> bool:
    if salt is None:
        return False
    hashed = digest(salt, kind, value)
    return bool(engine.scalar(parse("SELECT count(*) FROM suppressions WHERE hash = :h", h=hashed)))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)
