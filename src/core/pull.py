"""Pull and load: stream a source's pages to staging files, then bulk-load them.

Memory stays bounded by one page: each record is normalised (identifiers, consent, attribute
types) and written to a JSON Lines staging file as it arrives. When the stream ends, the file
is loaded with DuckDB's ``read_json`` and merged into the store together with the new cursor,
in one transaction. A crash before that commit changes nothing: the next run pulls again from
the old cursor.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from segsync.config import Config
from segsync.connector import Connector, Contact, Event, Page, Purpose
from segsync.errors import ConnectorError, InputError, SegsyncError
from segsync.identity import normalize_email, normalize_phone
from segsync.profile import CONSENT_COLUMNS
from segsync.report import SourceSummary
from segsync.store import Store
from segsync.values import coerce, to_utc

__all__ = ["clear_staging", "pull_source"]

log = logging.getLogger("segsync.pull")
_MAX_WARNINGS = 5

_CONTACT_COLUMNS: dict[str, str] = {
    "seq": "BIGINT",
    "source_id": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "attributes": "JSON",
    **{col: "BOOLEAN" for col in CONSENT_COLUMNS.values()},
    "updated_at": "TIMESTAMP",
}
_EVENT_COLUMNS: dict[str, str] = {
    "seq": "BIGINT",
    "event_id": "VARCHAR",
    "type": "VARCHAR",
    "occurred_at": "TIMESTAMP",
    "contact_id": "VARCHAR",
    "email": "VARCHAR",
    "value": "DECIMAL(18,4)",
    "currency": "VARCHAR",
    "properties": "JSON",
}


def _warn(result: SourceSummary, message: str) -> None:
    result.warnings += 1
    if len(result.warning_samples) < _MAX_WARNINGS:
        result.warning_samples.append(message)
        log.warning("%s", message)


async def pull_source(
    store: Store,
    config: Config,
    connector: Connector,
    *,
    run_id: str,
    staging_dir: Path,
    full: bool = False,
) -> list[SourceSummary]:
    """Pull every stream the connector provides. Errors are caught into the results.

    ``full`` ignores the stored cursors: every stream is read from the start."""
    instance = connector.context.instance
    results: list[SourceSummary] = []
    for stream in connector.source_streams():
        if stream not in ("contacts", "events"):
            raise InputError(f"{instance}: unknown source stream {stream!r}")
        result = SourceSummary(instance=instance, stream=stream)
        results.append(result)
        try:
            await _pull_stream(
                store,
                config,
                connector,
                stream,
                result,
                run_id,
                staging_dir,
                full,
            )
        except (InputError, ConnectorError) as exc:
            result.error = str(exc)
            log.error("pull of %s %s failed: %s", instance, stream, exc)
        except SegsyncError:
            raise
    return results


async def _pull_stream(
    store: Store,
    config: Config,
    connector: Connector,
    stream: str,
    result: SourceSummary,
    run_id: str,
    staging_dir: Path,
    full: bool,
) -> None:
    instance = connector.context.instance
    cursor = None if full else store.get_cursor(instance, stream)
    staging_dir.mkdir(parents=True, exist_ok=True)
    path = staging_dir / f"{instance}-{stream}.jsonl"
    pages: AsyncIterator[Page[Any]]
    encode: Callable[[Any, int, SourceSummary], dict[str, Any]]  # Contact or Event encoder
    if stream == "contacts":
        pages = connector.stream_contacts(cursor)
        encode = _contact_encoder(config, instance)
    else:
        pages = connector.stream_events(cursor)
        encode = _encode_event
    new_cursor = cursor
    seq = 0
    with path.open("w", encoding="utf-8") as out:
        async for page in pages:
            if result.pages and page.snapshot != result.snapshot:
                raise InputError(f"{instance}: the {stream} stream mixed snapshot and delta pages")
            result.snapshot = page.snapshot
            result.pages += 1
            for record in page.records:
                seq += 1
                _write(out, encode(record, seq, result))
            result.records += len(page.records)
            if page.cursor is not None:
                new_cursor = page.cursor
    if result.pages == 0:
        log.info("%s %s: nothing new since the last pull", instance, stream)
        path.unlink(missing_ok=True)
        return
    table = "source_contacts" if stream == "contacts" else "events"
    key = "source_id" if stream == "contacts" else "event_id"
    columns = _CONTACT_COLUMNS if stream == "contacts" else _EVENT_COLUMNS
    _load(store, path, table, key, columns, instance, stream, new_cursor, run_id, result)
    result.loaded = True
    path.unlink(missing_ok=True)
    log.info(
        "%s %s: %d records in %d pages loaded%s",
        instance,
        stream,
        result.records,
        result.pages,
        " (full snapshot)" if result.snapshot else "",
    )


def _write(out: TextIO, row: dict[str, Any]) -> None:
    out.write(json.dumps(row, ensure_ascii=False, default=_json_default))
    out.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot stage a value of type {type(value).__name__}")


def _contact_encoder(
    config: Config, instance: str
) -> Callable[[Any, int, SourceSummary], dict[str, Any]]:
    attribute_types = config.attributes
    region = config.settings.resolve.default_region

    def encode(record: Any, seq: int, result: SourceSummary) -> dict[str, Any]:
        if not isinstance(record, Contact):
            raise InputError(f"{instance}: contacts stream yielded {type(record).__name__}")
        if not record.source_id:
            raise InputError(f"{instance}: a contact has an empty source_id")
        where = f"{instance} contact {record.source_id!r}"
        email = normalize_email(record.email)
        if email is None and str(record.email or "").strip():
            _warn(result, f"{where}: email {record.email!r} is not a valid address; ignored")
        country = record.country.strip().upper() if isinstance(record.country, str) else ""
        phone = normalize_phone(record.phone, country if len(country) == 2 else region)
        if phone is None and str(record.phone or "").strip():
            hint = "" if region else " (set resolve.default_region to read national numbers)"
            _warn(result, f"{where}: phone {record.phone!r} is not a valid number; ignored{hint}")
        attributes: dict[str, Any] = {}
        for name, value in record.attributes.items():
            type_name = attribute_types.get(name)
            if type_name is None:
                continue
            try:
                attributes[name] = coerce(type_name, value)
            except ValueError as exc:
                _warn(result, f"{where}: attribute {name!r}: {exc}; stored as empty")
        row: dict[str, Any] = {
            "seq": seq,
            "source_id": str(record.source_id),
            "email": email,
            "phone": phone,
            "attributes": attributes,
            "updated_at": to_utc(record.updated_at).isoformat() if record.updated_at else None,
        }
        for purpose, column in CONSENT_COLUMNS.items():
            value = record.consent.get(purpose)
            row[column] = value if isinstance(value, bool) else None
        unknown = set(record.consent) - set(Purpose)
        if unknown:
            raise InputError(f"{where}: unknown consent purpose(s) {sorted(map(str, unknown))}")
        return row

    return encode


def _encode_event(record: Any, seq: int, result: SourceSummary) -> dict[str, Any]:
    if not isinstance(record, Event):
        raise InputError(f"events stream yielded {type(record).__name__}")
    if not record.event_id:
        raise InputError("an event has an empty event_id")
    if record.contact_id is None and record.email is None:
        _warn(result, f"event {record.event_id!r} names no contact (no contact_id or email)")
    return {
        "seq": seq,
        "event_id": str(record.event_id),
        "type": record.type,
        "occurred_at": to_utc(record.occurred_at).isoformat(),
        "contact_id": None if record.contact_id is None else str(record.contact_id),
        "email": normalize_email(record.email),
        "value": None if record.value is None else str(record.value),
        "currency": record.currency,
        "properties": record.properties,
    }


def _load(
    store: Store,
    path: Path,
    table: str,
    key: str,
    columns: dict[str, str],
    instance: str,
    stream: str,
    cursor: str | None,
    run_id: str,
    result: SourceSummary,
) -> None:
    spec = "{" + ", ".join(f"'{name}': '{type_}'" for name, type_ in columns.items()) + "}"
    names = [c for c in columns if c != "seq"]
    select = ", ".join(f'"{c}"' for c in names)
    con = store.con
    # Stage into a temp table first: the last occurrence of a key within a pull wins.
    con.execute("DROP TABLE IF EXISTS _staged")
    con.execute(
        f"CREATE TEMP TABLE _staged AS SELECT {select} FROM read_json(?, format = "
        f"'newline_delimited', columns = {spec}) "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY seq DESC) = 1",
        [str(path)],
    )
    duplicates = result.records - int(store.scalar("SELECT count(*) FROM _staged"))
    if duplicates:
        _warn(result, f"{instance} {stream}: {duplicates} records repeated an id; the last one won")
    with store.transaction():
        if result.snapshot:
            con.execute(f"DELETE FROM {table} WHERE instance = ?", [instance])
        else:
            con.execute(
                f"DELETE FROM {table} WHERE instance = ? AND {key} IN (SELECT {key} FROM _staged)",
                [instance],
            )
        con.execute(
            f"INSERT INTO {table} (instance, {select}, run_id) SELECT ?, {select}, ? FROM _staged",
            [instance, run_id],
        )
        store.set_cursor(instance, stream, cursor, run_id)
    con.execute("DROP TABLE IF EXISTS _staged")


def clear_staging(staging_root: Path) -> None:
    """Remove staging files left by earlier (crashed) runs."""
    if staging_root.exists():
        shutil.rmtree(staging_root, ignore_errors=True)
