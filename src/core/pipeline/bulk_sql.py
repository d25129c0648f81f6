"""The SQL of bulk staging (:mod:`segsync.pipeline.bulk`): the rules of :mod:`segsync.values`
and :mod:`segsync.model.identity` where SQL says exactly what they say, and a row's status
where it does not.

A field comes from a view column as ``(text, kind)``: a CSV cell is a string (an empty one
``''``); a JSON value has a kind (``string``, ``integer``, ``number``, ``boolean``, ``null``,
…; NULL when its key is absent). Each rule gives a value for the shapes it reads exactly; any
other shape makes the row a *python* row, read by the source as its pages would read it. The
shapes SQL reads:

* text stripped the way Python's ``str.strip()`` strips (every ``str.isspace`` character);
* yes/no, true/false, 1/0, granted/denied … in any ASCII case, JSON booleans and 0/1;
* times ``YYYY-MM-DD`` with an optional ``[T ]HH:MM[:SS[.ffffff]]`` and ``Z`` or ``±HH:MM``
  (years 1000–9998: converting the others to UTC can overflow a Python datetime);
* amounts ``[+-]digits[.digits]`` (or ``.digits``) and JSON integers, 14 digits before the
  point at most;
* emails in ASCII (lower-casing elsewhere is Unicode's: those go to Python once each).

The query has three levels, so that each field is stripped once and each rule computed once:
the view's fields (``t``, ``k``, ``s`` stripped), the rules' values, then the statuses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from segsync.connector import BulkFile, ContactColumns, EventColumns
from segsync.engine import parse
from segsync.model.identity import mask_identifier, shown_id
from segsync.model.profile import CONSENT_COLUMNS
from segsync.pipeline.staging import CONSENT_AT, FUTURE_TOLERANCE
from segsync.values import FALSE_WORDS, TRUE_WORDS, WHITESPACE

__all__ = ["LANE_ATTR", "LANE_EMAIL", "LANE_PHONE", "FilePlan", "as_text", "from_text"]

_TIME = (
    "^(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}"
    "(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
_AMOUNT = "^[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)$"
_ASCII = "^[\\x00-\\x7f]*$"
_FIELD_LIMIT = 131072  # csv.field_size_limit(): the pages refuse a longer field

LANE_PHONE = {"phone_t": "VARCHAR", "phone_k": "VARCHAR", "country_t": "VARCHAR",
              "country_k": "VARCHAR", "phone": "VARCHAR", "warn": "VARCHAR",
              "masked": "VARCHAR"}  # fmt: skip
LANE_EMAIL = {"raw": "VARCHAR", "email": "VARCHAR", "warn": "BOOLEAN"}
LANE_ATTR = {"slot": "INTEGER", "t": "VARCHAR", "k": "VARCHAR", "json": "VARCHAR"}

WARN_EMAIL = "email is not a valid address; ignored"
WARN_FUTURE = "time in the future, taken as the pull's time"
WARN_NO_CONTACT = "event names no contact (no contact_id or email)"
WARN_EVENT_FUTURE = "event dated in the future"


def lit(value: str) -> str:
    """A string literal."""
    return exp.Literal.string(value).sql("duckdb")


_WHITE = lit(WHITESPACE)


def strip(text: str) -> str:
    """``text.strip()``: trimmed only when it may start or end with white space (rare, and
    trimming a set of characters is slow). Every white space character is below ``!`` or
    above U+0084, so an end whose code point (``ascii``, in DuckDB and Spark alike) lies
    between the two is not white space, and the others are trimmed: ``trim`` leaves a text
    that does not start or end with one as it is. The last character is ``substr(text, -1)``:
    with ``right(text, 1)`` the test cost DuckDB twice as much (0.048 s against 0.025 per
    1,000,000 texts, one thread), and it is made of 5 to 14 columns of every record. (Looking
    both ends up in the set by ``strpos`` cost 1 more CPU-s on 6,000,000 orders; an ``IN`` list
    of the 29 characters more again. A test of both ends made the read run on one thread at
    128 MiB under DuckDB 1.x, before the read's columns were packed in one: see
    ``Engine.create_numbered``.)"""
    return (
        f"CASE WHEN {text} <> '' AND (ascii({text}) NOT BETWEEN 33 AND 132 "
        f"OR ascii(substr({text}, -1)) NOT BETWEEN 33 AND 132) "
        f"THEN trim({text}, {_WHITE}) ELSE {text} END"
    )


def as_text(columns: Mapping[str, str]) -> dict[str, str]:
    """The same columns, all text: what Python rows are inserted as before their casts."""
    return {name: "BIGINT" if name == "seq" else "VARCHAR" for name in columns}


def from_text(table: str, columns: Mapping[str, str]) -> exp.Expr:
    """Python rows (inserted as text) with the staged columns' types."""
    return parse(
        "SELECT "
        + ", ".join(
            f"json({c}) AS {c}" if t == "JSON" else f"CAST({c} AS {t}) AS {c}"
            for c, t in columns.items()
        )
        + f" FROM {table}"
    )


@dataclass(frozen=True)
class Src:
    """A field in the first level: its text ``t``, kind ``k`` and stripped text ``s``."""

    n: int

    @property
    def t(self) -> str:
        return f"t_{self.n}"

    @property
    def k(self) -> str:
        return f"k_{self.n}"

    @property
    def s(self) -> str:
        return f"s_{self.n}"

    @property
    def blank(self) -> str:
        return f"({self.k} IS NULL OR {self.k} = 'null' OR ({self.k} = 'string' AND {self.s} = ''))"


# -- the rules (second level) ---------------------------------------------------------------


def boolean(src: Src) -> tuple[str, str]:
    """``parse_bool``: (value, ok)."""
    word = f"lower({src.s})"
    trues, falses = (", ".join(map(lit, sorted(words))) for words in (TRUE_WORDS, FALSE_WORDS))
    value = (
        f"CASE WHEN {src.blank} THEN NULL WHEN {src.k} = 'boolean' THEN {src.t} = 'true' "
        f"WHEN {src.k} = 'integer' AND {src.t} IN ('0', '1') THEN {src.t} = '1' "
        f"WHEN {src.k} = 'string' AND {word} IN ({trues}) THEN TRUE "
        f"WHEN {src.k} = 'string' AND {word} IN ({falses}) THEN FALSE END"
    )
    ok = (
        f"({src.blank} OR {src.k} = 'boolean' "
        f"OR ({src.k} = 'integer' AND {src.t} IN ('0', '1')) "
        f"OR ({src.k} = 'string' AND {word} IN ({trues}, {falses})))"
    )
    return value, ok


def moment(src: Src) -> str:
    """``parse_datetime`` to naive UTC, or NULL (blank, or a shape SQL does not read).

    Once the text has the shape, its suffix is told by its last characters: a ``Z``, or a
    ``±HH:MM`` (its sign where a date-only text has its second ``-``: so only past 16
    characters). A text with a suffix is read as an instant (``TIMESTAMPTZ``) and taken to
    UTC by its microseconds since the epoch — not through the session's time zone, and at a
    third of the cost of shifting the local time by the suffix's minutes; a text without one
    is the local time itself. (The last characters are read by ``ends_with`` and a negative
    ``substr``: ``right`` costs twice as much in DuckDB.)"""
    s = src.s
    suffixed = f"ends_with({s}, 'Z') OR (length({s}) > 16 AND substr({s}, -6, 1) IN ('+', '-'))"
    shaped = f"({src.k} = 'string' AND regexp_matches({s}, {lit(_TIME)}))"
    return (
        f"CASE WHEN {shaped} THEN CASE WHEN {suffixed} THEN "
        f"make_timestamp(unix_micros(TRY_CAST({s} AS TIMESTAMPTZ))) "
        f"ELSE TRY_CAST({s} AS TIMESTAMP) END END"
    )


def amount(src: Src) -> str:
    """``parse_amount`` as DECIMAL(18,4), or NULL (blank, or a shape SQL does not read)."""
    s = src.s
    # at most 14 digits before the point (leading zeros aside): a text of 14 characters or
    # fewer holds no more, so only a longer one is taken apart
    fits = (
        f"({src.k} = 'string' AND regexp_matches({s}, {lit(_AMOUNT)}) AND (length({s}) <= 14 "
        f"OR length(regexp_extract({s}, '^[+-]?0*([0-9]*)', 1)) <= 14)) "
        f"OR ({src.k} = 'integer' AND (length({s}) <= 14 "
        f"OR length(regexp_extract({s}, '^-?0*([0-9]*)', 1)) <= 14))"
    )
    return f"CASE WHEN {fits} THEN TRY_CAST({s} AS DECIMAL(18,4)) END"


def ident(src: Src) -> str:
    """A record id, ``str(value)``; NULL when empty or absent (the row is bad)."""
    return (
        f"CASE WHEN ({src.k} = 'string' AND {src.t} <> '') OR {src.k} = 'integer' THEN {src.t} END"
    )


def text(src: Src) -> tuple[str, str]:
    """``str(value).strip() or None`` (the files source's ``_text``): (value, ok)."""
    value = (
        f"CASE WHEN {src.k} = 'string' THEN nullif({src.s}, '') "
        f"WHEN {src.k} = 'integer' THEN {src.t} END"
    )
    return value, f"({src.k} IS NULL OR {src.k} IN ('null', 'string', 'integer'))"


def email(stripped: str) -> str:
    """``normalize_email`` of an ASCII text already stripped: lower-cased, one '@' with
    something before it and a dot after it, no space."""
    e = f"lower({stripped})"
    return (
        f"CASE WHEN length({e}) - length(replace({e}, '@', '')) = 1 AND strpos({e}, '@') > 1 "
        f"AND strpos(split_part({e}, '@', 2), '.') > 0 AND strpos({e}, ' ') = 0 THEN {e} END"
    )


def attribute(src: Src, type_name: str) -> tuple[str, str]:
    """An attribute coerced to its type, as JSON text: (JSON or NULL, needs its lane)."""
    s, k, t = src.s, src.k, src.t
    number = "^-?[0-9]+(?:[.][0-9]+)?$"
    flag, value = boolean(src)
    fast: dict[str, tuple[str, str]] = {
        "text": (f"{k} IN ('string', 'integer')", f"to_json({t})"),
        "integer": (
            f"({k} IN ('string', 'integer') AND regexp_matches({s}, '^[+-]?[0-9]{{1,18}}$'))",
            f"to_json(CAST({s} AS BIGINT))",
        ),
        "decimal": (
            f"({k} = 'integer' OR ({k} = 'string' AND regexp_matches({s}, "
            f"'^-?(?:0|[1-9][0-9]{{0,29}})(?:[.][0-9]{{1,6}})?$')))",
            f"to_json({s})",
        ),
        "double": (
            f"({k} IN ('string', 'integer') AND regexp_matches({s}, {lit(number)}))",
            f"to_json(CAST({s} AS DOUBLE))",
        ),
        "boolean": (value, f"to_json({flag})"),
        "date": (
            f"({k} = 'string' AND regexp_matches({s}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') "
            f"AND {s} >= '1' AND TRY_CAST({s} AS DATE) IS NOT NULL)",
            f"to_json({s})",
        ),
    }
    shape, json_value = fast.get(type_name, ("FALSE", "NULL"))
    return (
        f"CASE WHEN {src.blank} THEN 'null' WHEN {shape} THEN {json_value} END",
        f"(NOT {src.blank} AND NOT ({shape}))",
    )


# -- one file -----------------------------------------------------------------------------


@dataclass
class FilePlan:
    """How one file's rows become staged rows: its view's columns and the SQL over them."""

    file: BulkFile
    region: str | None
    pulled_at: dt.datetime
    view_keys: list[str] = field(default_factory=list)
    rest_without: list[str] | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    """First level: (text, kind) of each field read."""
    attribute_slots: list[tuple[str, str]] = field(default_factory=list)
    slot_sources: list[Src] = field(default_factory=list)
    feeds: dict[int, tuple[str, int]] = field(default_factory=dict)
    """JSON Lines: view key index → (attribute, slot) it feeds."""
    second: list[str] = field(default_factory=list)
    third: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def contacts(self) -> bool:
        return isinstance(self.file.columns, ContactColumns)

    @property
    def csv(self) -> bool:
        return self.file.format == "csv"

    @property
    def table(self) -> bool:
        """A table (:meth:`~segsync.engine.Engine.read_table`): read as JSON Lines objects
        are, its rows numbered by the engine's view (``_row``)."""
        return self.file.format == "table"

    @property
    def view_columns(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.file.header))]

    @property
    def with_keys(self) -> bool:
        return self.contacts and not self.csv

    @property
    def limit(self) -> str:
        return f"CAST({lit((self.pulled_at + FUTURE_TOLERANCE).isoformat())} AS TIMESTAMP)"

    @property
    def pulled(self) -> str:
        return f"CAST({lit(self.pulled_at.isoformat())} AS TIMESTAMP)"

    @classmethod
    def of(
        cls,
        file: BulkFile,
        *,
        attributes: Mapping[str, str],
        region: str | None,
        pulled_at: dt.datetime,
    ) -> FilePlan:
        plan = cls(file=file, region=region, pulled_at=pulled_at)
        columns = file.columns
        if isinstance(columns, ContactColumns):
            plan._plan_attributes(columns, attributes)
            plan._contact_fields(columns)
        else:
            if file.format != "csv":
                plan.rest_without = sorted(columns.used())
            plan._event_fields(columns)
        return plan

    def src(self, column: str | None) -> Src:
        """The field a column (CSV) or key (JSON Lines) holds; absent when None."""
        if column is None:
            pair = ("CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)")
        elif self.csv:
            pair = (f"coalesce(c{self.file.header.index(column)}, '')", "'string'")
        else:
            if column not in self.view_keys:
                self.view_keys.append(column)
            j = self.view_keys.index(column)
            pair = (f"v{j}", f"t{j}")
        if pair not in self.fields:
            self.fields.append(pair)
        return Src(self.fields.index(pair))

    def _plan_attributes(self, columns: ContactColumns, declared: Mapping[str, str]) -> None:
        """Which column feeds which declared attribute: every column not mapped to a field
        (or renamed to an attribute) under its own or its new name, as the pages' dict
        comprehension does it (a later column of the same name wins, in the first's place)."""
        renamed = {column: attr for attr, column in columns.attributes.items()}
        mapped = columns.mapped()

        def feeds(column: str) -> str | None:
            if column in mapped and column not in renamed:
                return None
            name = renamed.get(column, column)
            return name if name in declared else None

        if self.csv:
            chosen: dict[str, str] = {}
            for column in self.file.header:
                if (name := feeds(column)) is not None:
                    chosen[name] = column
            for name, column in chosen.items():
                self.attribute_slots.append((name, declared[name]))
                self.slot_sources.append(self.src(column))
            return
        for column in dict.fromkeys([*renamed, *declared]):
            if (name := feeds(column)) is None:
                continue
            src = self.src(column)
            self.feeds[self.view_keys.index(column)] = (name, len(self.attribute_slots))
            self.attribute_slots.append((name, declared[name]))
            self.slot_sources.append(src)

    def _contact_fields(self, cols: ContactColumns) -> None:
        second, third, checks = self.second, self.third, self.checks
        src = self.src(cols.id)
        second.append(f"{ident(src)} AS source_id")
        third.append("source_id")
        checks.append("source_id IS NOT NULL")
        mail = self.src(cols.email)
        second += [
            f"({mail.k} = 'string' AND regexp_matches({mail.t}, {lit(_ASCII)})) AS mail_ascii",
            f"{email(mail.s)} AS mail_norm",
            f"{mail.t} AS email_t",
            f"{mail.s} <> '' AS mail_set",
            f"({mail.k} IS NULL OR {mail.k} IN ('null', 'string')) AS mail_ok",
        ]
        lane, warn = (
            "(mail_set AND NOT mail_ascii)",
            "(mail_ascii AND mail_norm IS NULL AND mail_set)",
        )
        third += [
            "CASE WHEN mail_ascii THEN mail_norm END AS email",
            # the text as read: for the lane and the warning only (kept where they need it)
            f"CASE WHEN {lane} OR {warn} THEN email_t END AS email_t",
            f"{lane} AS email_lane",
            f"{warn} AS warn_email",
        ]
        checks.append("mail_ok")
        phone, country = self.src(cols.phone), self.src(cols.country)
        second.append(f"NOT {phone.blank} AS phone_set")
        for name, src in (("phone", phone), ("country", country)):
            second += [f"{src.t} AS {name}_t0", f"{src.k} AS {name}_k0"]
            third += [
                f"CASE WHEN phone_set THEN {name}_t0 END AS {name}_t",
                f"CASE WHEN phone_set THEN {name}_k0 END AS {name}_k",
            ]
        updated, given = self.src(cols.updated_at), self.src(cols.consent_updated_at)
        second += [
            f"{moment(updated)} AS updated",
            f"{updated.blank} AS updated_blank",
            f"{moment(given)} AS given",
            f"{given.blank} AS given_blank",
        ]
        checks += ["(updated_blank OR updated IS NOT NULL)", "(given_blank OR given IS NOT NULL)"]
        dated = "coalesce(given, updated)"
        for purpose, column in CONSENT_COLUMNS.items():
            source = cols.consent.get(purpose)
            if source:
                value, ok = boolean(self.src(source))
            else:
                value, ok = "CAST(NULL AS BOOLEAN)", "TRUE"
            second += [f"{value} AS {column}", f"{ok} AS {column}_ok"]
            checks.append(f"{column}_ok")
            third += [
                column,
                f"CASE WHEN {column} IS NOT NULL THEN {self._clamp(dated)} END "
                f"AS {CONSENT_AT[purpose]}",
            ]
        answered = " OR ".join(f"{c} IS NOT NULL" for c in CONSENT_COLUMNS.values())
        third += [
            f"{self._clamp('updated')} AS updated_at",
            f"greatest(CASE WHEN updated > {self.limit} THEN updated END, "
            f"CASE WHEN ({answered}) AND {dated} > {self.limit} THEN {dated} END) AS late",
        ]
        for slot, ((_, type_name), src) in enumerate(
            zip(self.attribute_slots, self.slot_sources, strict=True)
        ):
            value, lane = attribute(src, type_name)
            second += [
                f"{value} AS a{slot}_f",
                f"{src.t} AS a{slot}_t",
                f"{src.k} AS a{slot}_k",
                f"{lane} AS a{slot}_lane",
            ]
            # the raw text and kind serve only the lane (the join to Python's values): kept
            # for the values it takes, so the text of every other one is not written twice
            third += [
                f"a{slot}_f",
                f"CASE WHEN a{slot}_lane THEN a{slot}_t END AS a{slot}_t",
                f"CASE WHEN a{slot}_lane THEN a{slot}_k END AS a{slot}_k",
                f"a{slot}_lane",
            ]

    def _clamp(self, value: str) -> str:
        return f"CASE WHEN {value} > {self.limit} THEN {self.pulled} ELSE {value} END"

    def _event_fields(self, cols: EventColumns) -> None:
        second, third, checks = self.second, self.third, self.checks
        second.append(f"{ident(self.src(cols.id))} AS event_id")
        third.append("event_id")
        checks.append("event_id IS NOT NULL")
        if cols.type_column:
            kind = self.src(cols.type_column)
            second += [
                f"{kind.t} AS type",
                f"(({kind.k} = 'string' AND {kind.t} <> '') "
                f"OR ({kind.k} = 'integer' AND {kind.t} <> '0')) AS type_ok",
            ]
            checks.append("type_ok")
        else:
            second.append(f"{lit(cols.type)} AS type")
        third.append("type")
        when = self.src(cols.occurred_at)
        second.append(f"{moment(when)} AS occurred_at")
        third.append("occurred_at")
        checks.append("occurred_at IS NOT NULL")
        contact, ok = text(self.src(cols.contact_id))
        second += [f"{contact} AS contact_id", f"{ok} AS contact_ok"]
        third.append("contact_id")
        checks.append("contact_ok")
        named, ok = text(self.src(cols.email))
        second += [
            f"{named} AS named_email",
            f"({ok} AND ({named} IS NULL OR regexp_matches({named}, {lit(_ASCII)}))) AS mail_ok",
        ]
        third += [
            f"{email('named_email')} AS email",
            "(contact_id IS NOT NULL OR named_email IS NOT NULL) AS named",
        ]
        checks.append("mail_ok")
        if cols.value:
            money = self.src(cols.value)
            second += [f"{amount(money)} AS value", f"{money.blank} AS value_blank"]
            checks.append("(value_blank OR value IS NOT NULL)")
        else:
            second.append("CAST(NULL AS DECIMAL(18,4)) AS value")
        third.append("value")
        if cols.currency:
            currency, ok = text(self.src(cols.currency))
            second += [f"{currency} AS currency", f"{ok} AS currency_ok"]
            checks.append("currency_ok")
        else:
            default = cols.default_currency
            value = lit(default) if default is not None else "CAST(NULL AS VARCHAR)"
            second.append(f"{value} AS currency")
        third.append("currency")
        second.append("_properties AS properties")
        third.append("properties")

    # -- the query -----------------------------------------------------------------------

    def rows_query(self, view: str) -> exp.Expr:
        """One row per row of the file, in its order: its fields read and its status (the
        rows are numbered once made, by their position)."""
        first = []
        for n, (t, k) in enumerate(self.fields):
            first += [f"{t} AS t_{n}", f"{k} AS k_{n}", f"{strip(t)} AS s_{n}"]
        python = [f"NOT ({c})" for c in self.checks]
        if self.csv:
            first += ["'object' AS _kind", "CAST(NULL AS VARCHAR) AS _keys"]
            longest = ", ".join(f"length(coalesce({c}, ''))" for c in self.view_columns)
            first.append(f"greatest({longest}) > {_FIELD_LIMIT} AS _long")
            python.append("_long")
            if not self.contacts:
                used = self.file.columns.used()  # type: ignore[union-attr]
                pairs = [
                    f"{lit(c)}, coalesce(c{i}, '')"
                    for i, c in enumerate(self.file.header)
                    if c not in used
                ]
                first.append(f"json_object({', '.join(pairs)}) AS _properties")
        else:
            first += ["_kind", "_keys"]
            python.append("_kind = 'other'")
            if not self.contacts:
                first.append("_rest AS _properties")
        status = (
            f"CASE WHEN _kind = 'blank' THEN 'skip' WHEN {' OR '.join(python)} THEN 'python' "
            "ELSE 'ok' END"
        )
        row = "_row, " if self.table else ""
        return parse(
            f"""SELECT {row}_keys, {status} AS status, {", ".join(self.third)}
            FROM (SELECT {row}_kind, _keys, _long, {", ".join(self.second)}
                  FROM (SELECT {row}{", ".join(first)}{", FALSE AS _long" if not self.csv else ""}
                        FROM {view}) AS l1) AS l2"""
        )

    # -- after the lanes --------------------------------------------------------------------

    def lanes_query(self, rows: str, patterns: Sequence[str], lanes: str) -> exp.Expr:
        """Contacts: the rows with the lanes' answers joined in, attributes made JSON, and
        rows whose attribute no lane could coerce made python rows. The lanes are the tables
        ``<lanes>_phone``, ``<lanes>_email`` and ``<lanes>_attr``."""
        joins = [
            f"LEFT JOIN {lanes}_phone p ON r.phone_k IS NOT NULL AND p.phone_t = r.phone_t "
            "AND p.phone_k = r.phone_k AND p.country_t IS NOT DISTINCT FROM r.country_t "
            "AND p.country_k IS NOT DISTINCT FROM r.country_k",
            f"LEFT JOIN {lanes}_email e ON r.email_lane AND e.raw = r.email_t",
        ]
        failed = []
        fragments = []
        for slot in range(len(self.attribute_slots)):
            joins.append(
                f"LEFT JOIN {lanes}_attr l{slot} ON r.a{slot}_lane AND l{slot}.slot = {slot} "
                f"AND l{slot}.t IS NOT DISTINCT FROM r.a{slot}_t "
                f"AND l{slot}.k IS NOT DISTINCT FROM r.a{slot}_k"
            )
            failed.append(f"(r.a{slot}_lane AND l{slot}.json IS NULL)")
            # a_f is JSON as the read wrote it; only a lane's text is read as JSON (json()
            # of every value read each again: 0.9 rather than 0.5 s for 1,000,000 contacts).
            # The cast to JSON, of what is JSON already, costs DuckDB nothing, and tells the
            # Spark rewrite (spark_dialect) the value is JSON as it stands
            fragments.append(
                f"CAST(CASE WHEN r.a{slot}_lane THEN json(l{slot}.json) ELSE r.a{slot}_f END "
                "AS JSON)"
            )
        python = " OR ".join(failed) or "FALSE"
        attributes = self._attributes_json(patterns, fragments)
        consent = ", ".join(f"r.{c}, r.{CONSENT_AT[p]}" for p, c in CONSENT_COLUMNS.items())
        return parse(
            f"""SELECT r.seq, r._row,
                CASE WHEN r.status = 'ok' AND ({python}) THEN 'python' ELSE r.status END
                    AS status,
                r.source_id, CASE WHEN r.email_lane THEN e.email ELSE r.email END AS email,
                p.phone AS phone, {attributes} AS attributes, {consent}, r.updated_at, r.late,
                r.email_t, CASE WHEN r.email_lane THEN e.warn ELSE r.warn_email END
                    AS warn_email,
                p.warn AS warn_phone,
                CASE WHEN p.warn IS NOT NULL THEN p.masked END AS phone_masked,
                CASE WHEN p.warn IS NOT NULL THEN r.phone_t END AS phone_raw
            FROM {rows} r {" ".join(joins)}"""
        )

    def _attributes_json(self, patterns: Sequence[str], fragments: list[str]) -> str:
        if self.csv:
            pairs = [(name, slot) for slot, (name, _) in enumerate(self.attribute_slots)]
            return self._object(pairs, fragments)
        cases = []
        for pattern in patterns:
            present: dict[str, int] = {}
            for index in (int(i) for i in (pattern or "").split(",") if i):
                if index in self.feeds:
                    name, slot = self.feeds[index]
                    present[name] = slot
            obj = self._object(list(present.items()), fragments)
            cases.append(f"WHEN {lit(pattern or '')} THEN {obj}")
        return f"CASE coalesce(r._keys, '') {' '.join(cases)} END" if cases else "json_object()"

    @staticmethod
    def _object(pairs: list[tuple[str, int]], fragments: list[str]) -> str:
        if not pairs:
            return "json_object()"
        return "json_object(" + ", ".join(f"{lit(n)}, {fragments[s]}" for n, s in pairs) + ")"

    # -- warnings ---------------------------------------------------------------------------

    def warning_queries(self, table: str) -> list[tuple[int, exp.Expr]]:
        """Per kind of warning the pages raise on the rows SQL took: its place in a record,
        and a query of the first three rows of each kind (``kind, n, seq, x, y, z``: the
        kind, how many, the row, what its example shows)."""
        if self.contacts:
            kinds = [
                (lit(WARN_EMAIL), 0, "warn_email", "source_id", "email_t", "NULL"),
                (
                    "warn_phone",
                    1,
                    "warn_phone IS NOT NULL",
                    "source_id",
                    "phone_masked",
                    "phone_raw",
                ),
                (lit(WARN_FUTURE), 2, "late IS NOT NULL", "source_id", "late", "NULL"),
            ]
        else:
            kinds = [
                (lit(WARN_NO_CONTACT), 0, "NOT named", "event_id", "NULL", "NULL"),
                (lit(WARN_EVENT_FUTURE), 1, f"occurred_at > {self.limit}", "event_id",
                 "occurred_at", "NULL"),
            ]  # fmt: skip
        return [
            (
                position,
                parse(
                    f"""SELECT kind, n, seq, x, y, z FROM (
                        SELECT {kind} AS kind, count(*) OVER (PARTITION BY {kind}) AS n,
                            row_number() OVER (PARTITION BY {kind} ORDER BY seq) AS i,
                            seq, {x} AS x, {y} AS y, {z} AS z
                        FROM {table} WHERE status = 'ok' AND {condition}) AS w
                    WHERE i <= 3 ORDER BY seq"""
                ),
            )
            for kind, position, condition, x, y, z in kinds
        ]

    @staticmethod
    def example(kind: Any, row: Sequence[Any]) -> str:
        """A warning's example, as the pages write it (identifiers masked)."""
        key, value, raw = row
        if kind not in (WARN_NO_CONTACT, WARN_EVENT_FUTURE):  # a contact's id: an email?
            key = shown_id(key)
        if kind == WARN_EMAIL:
            return f"contact {key} ({mask_identifier(value)!r})"
        if kind == WARN_FUTURE:
            return f"contact {key} ({value:%Y-%m-%d})"
        if kind == WARN_NO_CONTACT:
            return f"event {key}"
        if kind == WARN_EVENT_FUTURE:
            return f"event {key} ({value:%Y-%m-%d})"
        masked = value if value is not None else mask_identifier(raw)  # a phone
        return f"contact {key} ({masked!r})"
