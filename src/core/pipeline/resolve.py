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

A person whose latest answer to ``do_not_profile`` is an objection (an objection wins a tie)
gets no profile at all — no identifiers, no events, so no traits, segments or deliveries
(those already made are removed by the next push) — and is only counted (``objected``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from segsync.connector import Purpose
from segsync.engine import Engine, parse
from segsync.model.profile import ATTRIBUTE_SQL_TYPES, CONSENT_COLUMNS, AttributeType
from segsync.traits.notes import TraitWarning

__all__ = ["ResolveResult", "mixed_currencies", "resolve_profiles"]


@dataclass
class ResolveResult:
    records: int
    profiles: int
    merged_records: int
    events: int
    orphan_events: int
    objected: int = 0
    """People who object to profiling (``do_not_profile``): kept out of the profiles, their
    records and events left unused."""
    order_currencies: dict[str, int] = field(default_factory=dict)
    """The currencies of the orders' values summed into ``revenue`` (those that name one),
    with how many orders each, the most common first."""


def mixed_currencies(currencies: Mapping[str, int]) -> TraitWarning | None:
    """The warning (``mixed_currencies``) when the orders summed into ``revenue`` name more
    than one currency: segsync adds amounts as they are, so 1,000 PLN and 1,000 EUR count
    alike in ``revenue`` and in every trait over order values."""
    if len(currencies) < 2:
        return None
    shown = ", ".join(f"{currency} {count:,}" for currency, count in currencies.items())
    return TraitWarning(
        trait="revenue",
        code="mixed_currencies",
        message=(
            f"revenue: the orders are in {len(currencies)} currencies (orders: {shown}), "
            "whose amounts are added as they are — in revenue and in every trait over order "
            "values (rfm's monetary score, value_tier, sums, clv); convert the amounts to one "
            "currency before loading"
        ),
    )


def _latest(value: exp.Expr, rank: str) -> exp.Expr:
    """The value of the best-ranked record (lowest ``rank``) among those that have one."""
    return exp.Filter(
        this=exp.ArgMin(this=value, expression=exp.column(rank)),
        expression=exp.Where(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))),
    )


def _attribute_column(name: str, type_name: AttributeType, *, alone: bool = False) -> exp.Expr:
    """``TRY_CAST(<latest non-empty value> AS <type>) AS "name"`` (``alone``: the value of a
    profile's only record): the attribute name is always a quoted identifier and its JSON
    path a literal."""
    value = exp.JSONExtractScalar(
        this=exp.column("attributes"),
        expression=exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=name)]),
    )
    cast = exp.TryCast(
        this=value if alone else _latest(value, "recency"),
        to=exp.DataType.build(ATTRIBUTE_SQL_TYPES[type_name], dialect="duckdb"),
    )
    return exp.alias_(cast, exp.to_identifier(name, quoted=True))


_OBJECTION = CONSENT_COLUMNS[Purpose.DO_NOT_PROFILE]


def _records() -> exp.Expr:
    """Every source record with its profile key."""
    return parse(
        """SELECT *, md5(CASE
                WHEN email IS NOT NULL THEN 'email:' || email
                WHEN phone IS NOT NULL THEN 'phone:' || phone
                ELSE 'record:' || instance || ':' || source_id END) AS profile_key
        FROM source_contacts"""
    )


def _ranked(where: exp.Expr | None) -> exp.Select:
    """The records of the profiles of several records (``_shared``; of those ``where`` picks)
    with their recency among their profile's records (most recently updated first) and, per
    consent purpose, the rank of its answer (most recent answer first, a denial before a grant
    at equal times — an objection before its withdrawal)."""
    ranks = ", ".join(
        f"row_number() OVER (PARTITION BY profile_key ORDER BY {col}_at DESC NULLS LAST, "
        f"{col} {'DESC' if col == _OBJECTION else 'ASC'}, instance, source_id) AS {col}_rank"
        for col in CONSENT_COLUMNS.values()
    )
    ranked = parse(
        f"""SELECT *,
            row_number() OVER (PARTITION BY profile_key
                               ORDER BY updated_at DESC NULLS LAST, instance, source_id)
                AS recency,
            {ranks}
        FROM _shared"""
    )
    assert isinstance(ranked, exp.Select)
    return ranked if where is None else ranked.where(where)


def _single(where: exp.Expr | None, *, shared: bool) -> exp.Expr | None:
    """The records of the profiles of one record among those ``where`` picks: those not of a
    profile of several (``shared``: there are some). The pass's condition applies to both
    sides, so the join holds only its keys — of the profiles of several records, fewer than
    the others in most stores."""
    if not shared:
        return where
    several = exp.select("profile_key").from_("_sizes").where("n > 1")
    condition = exp.not_(
        exp.column("profile_key").isin(
            query=several if where is None else several.where(where.copy())
        )
    )
    return condition if where is None else exp.and_(where.copy(), condition)


def _people(attributes: Mapping[str, AttributeType], where: exp.Expr | None = None) -> exp.Select:
    """One row per profile of more than one record (of those ``where`` picks): identifiers,
    counts, consent and attributes. The records are ranked within the same profiles, so each
    pass sorts only its own records."""
    consent = [
        exp.alias_(_latest(exp.column(col), f"{col}_rank"), col) for col in CONSENT_COLUMNS.values()
    ]
    return (
        exp.select(
            "profile_key",
            exp.alias_(exp.func("min", exp.column("email")), "email"),
            exp.alias_(_latest(exp.column("phone"), "recency"), "phone"),
            exp.alias_(exp.func("count", exp.Star()), "source_count"),
            exp.alias_(exp.func("max", exp.column("updated_at")), "updated_at"),
            *consent,
            *(_attribute_column(name, type_) for name, type_ in attributes.items()),
        )
        .from_(exp.alias_(exp.Subquery(this=_ranked(where)), "r", table=True))
        .group_by("profile_key")
    )


def _alone(
    attributes: Mapping[str, AttributeType], where: exp.Expr | None = None, *, shared: bool
) -> exp.Select:
    """One row per profile of one record (of those ``where`` picks; ``shared``: some profiles
    have several), the columns of :func:`_people`: that record's values, with no ranking (most
    profiles, and every one of a store fed by one source)."""
    query = exp.select(
        "profile_key",
        "email",
        "phone",
        exp.alias_(exp.cast(exp.Literal.number(1), exp.DataType.build("BIGINT")), "source_count"),
        "updated_at",
        *CONSENT_COLUMNS.values(),
        *(_attribute_column(name, type_, alone=True) for name, type_ in attributes.items()),
    ).from_("_records")
    condition = _single(where, shared=shared)
    return query if condition is None else query.where(condition)


STATES_PER_PASS = 1_000_000
"""About how many picked values (records × the strings picked per profile: phone, the consent
answers, the attributes) one pass of the per-profile aggregate holds (see :func:`_passes`):
within a 128 MiB ``memory_limit`` with room to spare (1,350,000 records with 9 attributes in
passes of 170,000 records ran out of memory there)."""


SORTED_ROWS_PER_PASS = 500_000
"""About how many rows one pass of the sort of ``profile_identifiers`` holds, and how many
keys of profiles of several records one pass of those of one record holds (see
:func:`_key_ranges`): within a 128 MiB ``memory_limit``."""

SORTED_BYTES_PER_PASS = 128 << 20
"""About how many bytes one pass of the sort of ``profiles`` or ``profile_events`` holds (see
:func:`_key_ranges`; a power of two of passes, so 64-128 MiB a pass): within a 128 MiB
``memory_limit``. Sized by bytes, not rows, because attributes and events' properties can be
long: 375,000 events of 1 KB properties a pass ran out of memory at 128 MiB, where 6,000,000
events of about 130 bytes sort in 8 passes (16 by the row count); one sort of a million
profiles with 9 attributes ran out of memory now and then."""

PASS_LIMIT = 128 << 20
"""The ``memory_limit`` the pass sizes above are set for. Under a larger one (a bulk read's
256 MiB, or a ``memory_limit`` set higher) every pass grows in proportion, so a pass holds the
same share of the limit (:func:`_scale`): a million contacts with 6,000,000 orders resolved in
15.4 s rather than 16.9-17.7 s at 256 MiB, at the same peak; under a smaller limit, and on an
engine that sets none of its own (Spark), the passes stay as they are."""

_EVENT_BYTES = (
    "length(profile_key) + length(event_id) + length(type) + length(instance) + "
    "coalesce(length(CAST(properties AS VARCHAR)), 0) + 24"
)
"""An event's size in a sort, about: its texts' characters, and 24 bytes for its time and
value."""

_RECORD_BYTES = (
    "length(profile_key) + coalesce(length(email), 0) + coalesce(length(phone), 0) + "
    "coalesce(length(CAST(attributes AS VARCHAR)), 0) + 48"
)
"""A record's size in its profile's row, about: its texts' characters, and 48 bytes for its
times, answers and counts."""


def _scale(engine: Engine) -> float:
    """How many times :data:`PASS_LIMIT` the engine may use now (at least 1)."""
    limit = engine.memory_bytes()
    return 1.0 if limit is None else max(1.0, limit / PASS_LIMIT)


def _passes(records: int, picked: int = 16, scale: float = 1.0) -> list[exp.Expr | None]:
    """Conditions splitting the profiles into passes of about :data:`STATES_PER_PASS`
    ``picked`` values, times ``scale`` (:func:`_key_ranges`). The aggregate keeps a state per
    profile for each attribute, consent purpose and the phone — strings, which DuckDB does not
    spill to disk —, so one pass over a million profiles would hold them all in memory at
    once."""
    return _key_ranges(records, max(1, int(STATES_PER_PASS * scale) // max(1, picked)))


def _key_ranges(rows: int, per_pass: int) -> list[exp.Expr | None]:
    """Conditions on ``profile_key`` splitting ``rows`` into passes of about ``per_pass``
    (a power of two of passes, at most 256), by the leading hexadecimal digits of the key
    (an md5, so evenly spread), in ascending key order; ``[None]``: one pass. A profile's rows
    are all in one pass, so a per-profile result is the same however many passes there are,
    and a table sorted by the key first is the passes' sorted rows one after the other."""
    count = 1
    while count < 256 and rows > count * per_pass:
        count *= 2
    if count == 1:
        return [None]
    key = exp.column("profile_key")
    bounds = [exp.Literal.string(f"{256 * i // count:02x}") for i in range(1, count)]
    conditions: list[exp.Expr | None] = [key < bounds[0]]
    for low, high in itertools.pairwise(bounds):
        conditions.append(exp.and_(key >= low.copy(), key < high))
    conditions.append(key >= bounds[-1].copy())
    return conditions


def _in_passes(
    engine: Engine, table: str, parts: Iterable[exp.Expr], *, temporary: bool = False
) -> None:
    """Create ``table`` from the first of ``parts`` (one query per pass) and append the
    others' rows in order."""
    for index, part in enumerate(parts):
        if index == 0:
            engine.create_table(table, part, temporary=temporary)
        else:
            engine.insert(table, part)


def _each_pass(query: exp.Expr, passes: list[exp.Expr | None]) -> Iterator[exp.Expr]:
    """``query`` (a ``SELECT``) once per pass, each pass's condition added to its ``WHERE``."""
    assert isinstance(query, exp.Select)
    for where in passes:
        yield query if where is None else query.copy().where(where)


def resolve_profiles(engine: Engine, attributes: Mapping[str, AttributeType]) -> ResolveResult:
    """Rebuild ``profiles``, ``profile_identifiers`` and ``profile_events`` from the stored
    records and events; ``attributes`` are the declared profile attributes."""
    consent = ", ".join(f"p.{c}" for c in CONSENT_COLUMNS.values())
    declared = "".join(f', p."{name}"' for name in attributes)
    scale = _scale(engine)  # passes grow with the memory limit
    rows_per_pass = int(SORTED_ROWS_PER_PASS * scale)
    bytes_per_pass = int(SORTED_BYTES_PER_PASS * scale)
    with engine.transaction():
        engine.create_table("_records", _records(), temporary=True)
        # a profile of one record takes its values as they are: only the others are ranked
        engine.create_table(
            "_sizes",
            parse(
                f"""SELECT profile_key, count(*) AS n, sum({_RECORD_BYTES}) AS size
                FROM _records GROUP BY profile_key"""
            ),
            temporary=True,
        )
        # the records, their size and their profiles, and those of profiles of several records
        records, size, found, shared, several = (
            int(v)
            for v in engine.rows(
                parse(
                    """SELECT coalesce(sum(n), 0), coalesce(sum(size), 0), count(*),
                           coalesce(sum(n) FILTER (WHERE n > 1), 0), count(*) FILTER (WHERE n > 1)
                    FROM _sizes"""
                )
            )[0]
        )
        if shared:  # apart, so that each pass of the ranking reads only these
            engine.create_table(
                "_shared",
                parse(
                    """SELECT r.* FROM _records r
                    JOIN _sizes s ON s.profile_key = r.profile_key AND s.n > 1"""
                ),
                temporary=True,
            )
        picked = 1 + len(CONSENT_COLUMNS) + len(attributes)
        # the profiles of one record in passes sized by the keys of the others (a pass holds
        # them to leave their records out), the others by the values their ranking holds
        alone = _key_ranges(several, rows_per_pass) if shared < records else []
        parts: list[exp.Expr] = [_alone(attributes, where, shared=bool(shared)) for where in alone]
        if shared:
            parts += [_people(attributes, where) for where in _passes(shared, picked, scale)]
        _in_passes(engine, "_people", parts or [_alone(attributes, shared=False)], temporary=True)
        # objection to profiling (issue 15): such people get no profile, no identifiers and
        # no events; everything after resolve only sees profiles
        engine.create_table(
            "_objected",
            parse(f"SELECT profile_key FROM _people WHERE {_OBJECTION} IS TRUE"),
            temporary=True,
        )
        engine.execute(
            parse("DELETE FROM _people WHERE profile_key IN (SELECT profile_key FROM _objected)")
        )
        objected, unused = (
            int(v)
            for v in engine.rows(
                parse(
                    """SELECT count(*), coalesce(sum(s.n), 0)
                    FROM _objected o JOIN _sizes s ON s.profile_key = o.profile_key"""
                )
            )[0]
        )
        profiles = found - objected
        # the sorted tables are sorted in passes too: one sort of millions of rows (with their
        # strings) runs out of memory where many small ones do not
        _in_passes(
            engine,
            "profile_identifiers",
            _each_pass(
                parse(
                    "SELECT profile_key, instance, source_id FROM _records "
                    "WHERE profile_key NOT IN (SELECT profile_key FROM _objected) "
                    "ORDER BY profile_key, instance, source_id"
                ),
                _key_ranges(records, rows_per_pass),
            ),
        )
        # an event's profile: its contact id's, or its email's when it names no contact id.
        # Apart, so the emails' join holds only the emails such events name (one LEFT JOIN of
        # both hashed every record's email: 6,000,000 orders by contact id took 3.7-3.9 s at
        # 128 MiB against 2.0-2.2 s now)
        engine.create_table(
            "_event_profiles",
            parse(
                """SELECT e.instance, e.event_id, e.type, e.occurred_at, e.value, e.currency,
                       e.properties, i.profile_key
                FROM events e
                LEFT JOIN profile_identifiers i
                  ON i.instance = e.instance AND i.source_id = e.contact_id
                WHERE e.contact_id IS NOT NULL
                UNION ALL
                SELECT e.instance, e.event_id, e.type, e.occurred_at, e.value, e.currency,
                       e.properties, m.profile_key
                FROM events e
                LEFT JOIN (SELECT DISTINCT profile_key, email FROM _records
                           WHERE email IN (SELECT email FROM events
                                           WHERE contact_id IS NULL AND email IS NOT NULL)) m
                  ON m.email = e.email
                WHERE e.contact_id IS NULL"""
            ),
            temporary=True,
        )
        engine.create_table(
            "_orders",
            parse(
                """SELECT profile_key, count(*) AS orders_count,
                       CAST(sum(value) AS DECIMAL(38,4)) AS revenue,
                       min(occurred_at) AS first_order_at, max(occurred_at) AS last_order_at
                FROM _event_profiles
                WHERE type = 'order' AND profile_key IS NOT NULL
                GROUP BY profile_key"""
            ),
            temporary=True,
        )
        # sorted in passes too, sized by their records' bytes (the most a profile's row
        # holds): one sort of a million profiles' wide rows ran out of memory at 128 MiB now
        # and then
        _in_passes(
            engine,
            "profiles",
            _each_pass(
                parse(
                    f"""SELECT * FROM (
                        SELECT p.profile_key, p.email, p.phone,
                               nullif(split_part(p.email, '@', 2), '') AS email_domain,
                               p.source_count, p.updated_at, {consent},
                               CAST(coalesce(o.orders_count, 0) AS BIGINT) AS orders_count,
                               CAST(coalesce(o.revenue, 0) AS DECIMAL(38,4)) AS revenue,
                               o.first_order_at, o.last_order_at{declared}
                        FROM _people p LEFT JOIN _orders o ON o.profile_key = p.profile_key
                    ) AS j
                    ORDER BY profile_key"""
                ),
                _key_ranges(size, bytes_per_pass),
            ),
        )
        # per currency, in one scan: the events, those without a profile, the orders summed
        # into revenue (those with a value), and the size of the events kept (which sets how
        # many go in a pass of their sort)
        by_currency = engine.rows(
            parse(
                f"""SELECT currency, count(*), count(*) FILTER (WHERE profile_key IS NULL),
                       count(*) FILTER (WHERE type = 'order' AND profile_key IS NOT NULL
                                          AND value IS NOT NULL),
                       coalesce(sum({_EVENT_BYTES}) FILTER (WHERE profile_key IS NOT NULL), 0)
                FROM _event_profiles GROUP BY currency"""
            )
        )
        events = sum(int(r[1]) for r in by_currency)
        orphans = sum(int(r[2]) for r in by_currency)
        kept_bytes = sum(int(r[4]) for r in by_currency)
        currencies = sorted(
            ((str(c), int(n)) for c, _, _, n, _ in by_currency if c is not None and n),
            key=lambda pair: (-pair[1], pair[0]),
        )
        _in_passes(
            engine,
            "profile_events",
            _each_pass(
                parse(
                    """SELECT profile_key, event_id, type, occurred_at,
                           CAST(value AS DECIMAL(18,4)) AS value, properties, instance
                    FROM _event_profiles WHERE profile_key IS NOT NULL
                      AND profile_key NOT IN (SELECT profile_key FROM _objected)
                    ORDER BY profile_key, type, occurred_at, event_id"""
                ),
                _key_ranges(kept_bytes, bytes_per_pass),
            ),
        )
    engine.drop(
        "_records", "_sizes", "_shared", "_event_profiles", "_orders", "_people", "_objected"
    )
    return ResolveResult(
        records=records,
        profiles=profiles,
        merged_records=records - unused - profiles,
        events=events,
        orphan_events=orphans,
        objected=objected,
        order_currencies=dict(currencies),
    )
