"""Resolve: source records become profiles.

Records are grouped by identity: the normalised email when there is one, else the E.164 phone,
else the record itself (instance and source id). Each group is one profile, keyed by
``md5(identity)`` so the key is stable across runs and reveals no personal data.

Within a profile, each attribute takes the most recently updated non-empty value (ties broken
by instance and source id, so results are deterministic). Consent per purpose takes the most
recent explicit answer, by the time *that answer* was given (``consent_<purpose>_at``, never
the record's modification time); an undated answer loses to a dated one, and at equal times a
denial wins over a grant. Every platform-side id is
kept in ``profile_identifiers``. Events are attached by contact id, else by email; events of type
``order`` are summarised into the built-in order columns, and every attached event is kept with
its profile in ``profile_events`` for computed traits (:mod:`segsync.traits`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from segsync.config import Config
from segsync.profile import ATTRIBUTE_SQL_TYPES, CONSENT_COLUMNS
from segsync.store import Store

__all__ = ["ResolveResult", "resolve_profiles"]

_ORDER = "updated_at DESC NULLS LAST, instance, source_id"
_SQL_DIALECT = "duckdb"


@dataclass
class ResolveResult:
    records: int
    profiles: int
    merged_records: int
    events: int
    orphan_events: int


def _attribute_column(name: str, type_name: str) -> str:
    """``TRY_CAST(first(<json value> ORDER BY recency) FILTER (non-null) AS <type>) AS name``,
    built with sqlglot so the attribute name is always a quoted identifier."""
    value = exp.func(
        "json_extract_string", exp.column("attributes"), exp.Literal.string(f"$.{name}")
    )
    value_sql = value.sql(dialect=_SQL_DIALECT)
    first = f"first({value_sql} ORDER BY {_ORDER}) FILTER (WHERE {value_sql} IS NOT NULL)"
    cast = exp.TryCast(
        this=exp.maybe_parse(first, dialect=_SQL_DIALECT),
        to=exp.DataType.build(ATTRIBUTE_SQL_TYPES[type_name], dialect=_SQL_DIALECT),
    )
    return exp.alias_(cast, exp.to_identifier(name, quoted=True)).sql(dialect=_SQL_DIALECT)


def resolve_profiles(store: Store, config: Config) -> ResolveResult:
    """Rebuild ``profiles`` and ``profile_identifiers`` from the staged records and events."""
    con = store.con
    consent = ",\n".join(
        f"first({col} ORDER BY {col}_at DESC NULLS LAST, {col} ASC, instance, source_id) "
        f"FILTER (WHERE {col} IS NOT NULL) AS {col}"
        for col in CONSENT_COLUMNS.values()
    )
    attributes = "".join(
        ",\n" + _attribute_column(name, type_name) for name, type_name in config.attributes.items()
    )
    with store.transaction():
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _records AS
            SELECT *, md5(CASE
                WHEN email IS NOT NULL THEN 'email:' || email
                WHEN phone IS NOT NULL THEN 'phone:' || phone
                ELSE 'record:' || instance || ':' || source_id END) AS profile_key
            FROM source_contacts"""
        )
        con.execute(
            """CREATE OR REPLACE TABLE profile_identifiers AS
            SELECT profile_key, instance, source_id FROM _records
            ORDER BY profile_key, instance, source_id"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _event_profiles AS
            SELECT e.instance, e.event_id, e.type, e.occurred_at, e.value, e.properties,
                   coalesce(i.profile_key, m.profile_key) AS profile_key
            FROM events e
            LEFT JOIN profile_identifiers i
              ON i.instance = e.instance AND i.source_id = e.contact_id
            LEFT JOIN (SELECT DISTINCT profile_key, email FROM _records
                       WHERE email IS NOT NULL) m
              ON e.contact_id IS NULL AND m.email = e.email"""
        )
        con.execute(
            f"""CREATE OR REPLACE TABLE profiles AS
            WITH orders AS (
                SELECT profile_key, count(*) AS orders_count,
                       sum(value)::DECIMAL(38,4) AS revenue,
                       min(occurred_at) AS first_order_at, max(occurred_at) AS last_order_at
                FROM _event_profiles
                WHERE type = 'order' AND profile_key IS NOT NULL
                GROUP BY profile_key
            ), people AS (
                SELECT profile_key,
                    any_value(email) AS email,
                    first(phone ORDER BY {_ORDER}) FILTER (WHERE phone IS NOT NULL) AS phone,
                    count(*) AS source_count,
                    max(updated_at) AS updated_at,
                    {consent}{attributes}
                FROM _records GROUP BY profile_key
            )
            SELECT p.profile_key, p.email, p.phone,
                   nullif(split_part(p.email, '@', 2), '') AS email_domain,
                   p.source_count, p.updated_at,
                   {", ".join(f"p.{c}" for c in CONSENT_COLUMNS.values())},
                   coalesce(o.orders_count, 0)::BIGINT AS orders_count,
                   coalesce(o.revenue, 0)::DECIMAL(38,4) AS revenue,
                   o.first_order_at, o.last_order_at
                   {"".join(f', p."{name}"' for name in config.attributes)}
            FROM people p LEFT JOIN orders o USING (profile_key)
            ORDER BY p.profile_key"""
        )
        con.execute(
            """CREATE OR REPLACE TABLE profile_events AS
            SELECT profile_key, event_id, type, occurred_at, value::DECIMAL(18,4) AS value,
                   properties, instance
            FROM _event_profiles WHERE profile_key IS NOT NULL
            ORDER BY profile_key, type, occurred_at, event_id"""
        )
        records = int(store.scalar("SELECT count(*) FROM _records"))
        profiles = int(store.scalar("SELECT count(*) FROM profiles"))
        events = int(store.scalar("SELECT count(*) FROM _event_profiles"))
        orphans = int(
            store.scalar("SELECT count(*) FROM _event_profiles WHERE profile_key IS NULL")
        )
    con.execute("DROP TABLE IF EXISTS _records")
    con.execute("DROP TABLE IF EXISTS _event_profiles")
    return ResolveResult(
        records=records,
        profiles=profiles,
        merged_records=records - profiles,
        events=events,
        orphan_events=orphans,
    )
